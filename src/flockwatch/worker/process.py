"""Run `flockwatch worker` as a child process and watch it over its HTTP endpoints.

Used by `flockwatch demo`, the end-to-end tests and the benchmark: each needs to start
a worker, wait until it is ready, wait until it has drained a topic, and stop it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from flockwatch.embedded.broker import free_port
from flockwatch.kafka.offsets import wait_drained
from flockwatch.worker.repartition import by_key_topic


class WorkerExited(RuntimeError):
    pass


class WorkerProcess:
    def __init__(self, broker: str, *, group: str, topic: str, database_url: str, data_dir: Path,
                 log_path: Path, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 log_level: str = "WARNING"):
        self.broker, self.group, self.topic = broker, group, topic
        self.port = 0  # chosen by `start`
        self.log_path = log_path
        self.args = [
            sys.executable, "-m", "flockwatch", "--log-level", log_level, "worker",
            "--broker", broker, "--group", group, "--topic", topic, "--database-url", database_url,
            "--data-dir", str(data_dir), *extra_args,
        ]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The port is picked now, not when the object was made: a worker started a minute
        # later found its port taken by an outgoing connection (Errno 98; seen in a test
        # where the second worker joins mid-stream).
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen([*self.args, "--metrics-port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds from start until /readyz said 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise WorkerExited(f"worker exited with {self.returncode} before it was ready; see {self.log_path}")
            try:
                if self.get("/readyz", timeout=1.0)[0] == 200:
                    return time.monotonic() - self.started_at
            except OSError:
                pass  # not listening yet
            time.sleep(0.05)
        raise TimeoutError(f"worker not ready within {timeout:.0f} s; see {self.log_path}")

    def wait_drained(self, timeout: float = 60.0) -> bool:
        """The group has committed everything in the firehose, then everything that was
        in the repartition topic by then (the matches forwarded from it)."""
        deadline = time.monotonic() + timeout
        if not wait_drained(self.broker, self.group, self.topic, timeout, keep_waiting=lambda: self.alive):
            return False
        return wait_drained(self.broker, self.group, by_key_topic(self.topic), max(1.0, deadline - time.monotonic()),
                            keep_waiting=lambda: self.alive)

    def metrics(self) -> str:
        return self.get("/metrics")[1].decode()

    def ready_detail(self) -> dict[str, object]:
        return dict(json.loads(self.get("/readyz")[1]))

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 20.0) -> int | None:
        """Graceful stop (SIGTERM); SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
