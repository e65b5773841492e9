"""A real Prometheus (the Debian package's binary) for tests: own port, own temp
storage, 1 s scrapes; stopped by the context manager. Never the system service."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.servers import free_port, wait_port


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class Prometheus:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400 = the query does not parse
            return exc.code, json.loads(exc.read() or b"{}")

    def ready(self, timeout: float) -> bool:
        """Until /-/ready answers 200 (the port opens before the TSDB is loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def query(self, expr: str) -> tuple[int, dict[str, Any]]:
        return self.api("query", query=expr)

    def wait_for(self, expr: str, timeout: float = 60.0) -> bool:
        """Until `expr` returns at least one sample."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.query(expr)
            if status == 200 and body["data"]["result"]:
                return True
            time.sleep(0.5)
        return False


@contextmanager
def prometheus(targets: list[str], tmp: Path, rule_files: list[Path] = ()) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` (host:port) as job "flockwatch" every second."""
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError("prometheus is not installed")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "flockwatch", "static_configs": [{"targets": targets}]}],
    }
    cfg = tmp / "prometheus.yml"
    cfg.write_text(json.dumps(config))  # JSON is YAML
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        prom = Prometheus(port)
        if not (wait_port(port, timeout=30) and prom.ready(timeout=30)):
            raise RuntimeError(f"prometheus did not start; log: {(tmp / 'prometheus.log').read_text()[-2000:]}")
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
