"""The worker's HTTP endpoints on a small thread server: /metrics (Prometheus text),
/healthz and /readyz (JSON, 200 or 503).

A thread, not Faust's web server: it answers while the event loop is busy with a batch
(so scrapes never time out under load), and skipping Faust web saves startup time.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from flockwatch.worker.health import Health


class EndpointServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health):
        self.registry = registry
        self.health = health
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="flockwatch-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> EndpointServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._json(*outer.health.live())
                elif path == "/readyz":
                    self._json(*outer.health.ready())
                else:
                    self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

            def _json(self, ok: bool, detail: dict[str, object]) -> None:
                body = json.dumps({"status": "ok" if ok else "unavailable", **detail}).encode() + b"\n"
                self._send(200 if ok else 503, body, "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # scrapes every few seconds would drown the worker's log

        return Handler
