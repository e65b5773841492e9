"""A real local HTTP webhook receiver that misbehaves on purpose.

Modes (switchable while running): `ok` (200), `error` (500), `ratelimit` (429 with
Retry-After), `slow` (sleeps past the client's timeout, then 504), `reject` (400), `redirect` (302),
and `down` (the socket is closed: connection refused). Every request is recorded
with its time, headers, JSON body and the status it got.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.servers import free_port


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    answered_at: float = 0.0

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    mode: str = "ok"
    retry_after: str = "1"
    slow_seconds: float = 1.0
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/T000/secret-token"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802
                at = time.time()
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                mode = receiver.mode
                status, extra = {
                    "ok": (200, {}), "error": (500, {}), "reject": (400, {}),
                    "ratelimit": (429, {"Retry-After": receiver.retry_after}), "slow": (504, {}),
                    "redirect": (302, {"Location": "http://127.0.0.1:1/elsewhere"}),
                }.get(mode, (500, {}))
                rec = Received(at, self.path, dict(self.headers), body, status)
                with receiver._lock:
                    receiver.requests.append(rec)
                if mode == "slow":
                    time.sleep(receiver.slow_seconds)
                payload = b"ok" if status == 200 else f"mode {mode}".encode()
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                rec.answered_at = time.time()

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default listen backlog (5) turns a burst into client timeouts
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the socket: new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set(self, mode: str) -> None:
        if mode == "down":
            self.stop()
        elif self._server is None:
            self.mode = mode
            self.start()
        self.mode = mode

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def accepted(self) -> list[Received]:
        return [r for r in self.snapshot() if r.status == 200]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.05)
        return predicate(self.snapshot())
