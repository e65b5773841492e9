"""Notification delivery benchmark.

1. Throughput: N alerts (one group each, so N messages) go through the whole
   dispatcher (route -> group -> render -> outbox -> HTTP POST -> record) to a fast
   local receiver running in its own process. Target: >= 200 notifications/s.
2. Isolation: the worker-side cost of storing alerts and enqueueing them
   (`AlertStore.upsert` + `Notifier.enqueue`) with no dispatcher, and again while a
   `flockwatch notify run` process hammers a dead receiver (a socket that accepts
   and never answers, so every attempt waits for its timeout) with a growing backlog.

    python benchmarks/bench_notify.py [--alerts 2000] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402

from flockwatch.notify.config import parse_config  # noqa: E402
from flockwatch.notify.dispatcher import Dispatcher  # noqa: E402
from flockwatch.notify.notifier import Notifier  # noqa: E402
from flockwatch.store.alert_store import AlertStore  # noqa: E402
from support.alerts import make_alert  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_receiver(port: int) -> None:
    """A fast webhook receiver (child process): 200 for every POST; GET /count."""
    from aiohttp import web

    count = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        return web.Response(text="ok")

    async def get_count(request: web.Request) -> web.Response:
        return web.Response(text=str(count))

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", get_count)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_receiver() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-receiver", str(port)])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    raise RuntimeError("receiver did not start")


def received(port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as resp:
        return int(resp.read())


def config(url: str, timeout: str = "5s") -> dict:
    return {
        "timeout": timeout,
        "retry": {"initial": "1s", "max": "30s"},
        "dispatcher": {"poll_interval": "50ms", "batch": 500, "concurrency": 64, "lease": "60s"},
        "receivers": [{"name": "hook", "type": "slack", "url": url, "max_in_flight": 64}],
        "route": {"receiver": "hook", "group_by": ["..."], "group_wait": 0},
    }


def throughput(db_url: str, n: int) -> None:
    proc, port = start_receiver()
    try:
        store = AlertStore(db_url)
        alerts = [make_alert(f"bench-{i}", title=f"cascade {i}", summary="copy-paste spam " * 10) for i in range(n)]
        Notifier(engine=store.engine).enqueue(store.upsert(alerts))
        dispatcher = Dispatcher(parse_config(config(f"http://127.0.0.1:{port}/hook")), store.engine)
        stop = asyncio.Event()
        first_delivery: list[float] = []

        async def main() -> float:
            task = asyncio.create_task(dispatcher.run(stop))
            start = time.perf_counter()
            while dispatcher.delivered < n:
                if dispatcher.delivered and not first_delivery:
                    first_delivery.append(time.perf_counter())
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - start
            stop.set()
            await task
            return elapsed

        elapsed = asyncio.run(main())
        got = received(port)
        print(f"throughput: {n} messages delivered and recorded in {elapsed:.2f}s = {n / elapsed:,.0f} notifications/s "
              f"(end to end: route, group, render, outbox, POST, record; receiver counted {got})")
        if first_delivery:
            steady = time.perf_counter() - first_delivery[0]
            print(f"  from the first delivery to the last: {n / max(steady, 1e-9):,.0f}/s")
    finally:
        proc.terminate()
        proc.wait(5)


def black_hole() -> tuple[socket.socket, int, threading.Event]:
    """A receiver that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    return srv, srv.getsockname()[1], stop


def store_and_enqueue(store: AlertStore, notifier: Notifier, prefix: str, batches: int,
                      size: int) -> tuple[list[float], list[float]]:
    """Per batch: seconds in AlertStore.upsert, and in Notifier.enqueue (the worker's only notification cost)."""
    upserts, enqueues = [], []
    for b in range(batches):
        alerts = [make_alert(f"{prefix}-{b}-{i}") for i in range(size)]
        t0 = time.perf_counter()
        stored = store.upsert(alerts)
        t1 = time.perf_counter()
        notifier.enqueue(stored)
        upserts.append(t1 - t0)
        enqueues.append(time.perf_counter() - t1)
    return upserts, enqueues


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_scenario(tmp: str, name: str, receiver_url: str | None, batches: int, size: int) -> tuple[list[float], list[float]]:
    db_url = f"sqlite:///{tmp}/{name}.db"
    store = AlertStore(db_url)
    notifier = Notifier(engine=store.engine)
    store_and_enqueue(store, notifier, "warm", 5, size)
    if receiver_url is None:
        return store_and_enqueue(store, notifier, name, batches, size)
    cfg_path = Path(tmp) / f"{name}.yaml"
    cfg = config(receiver_url, timeout="2s")
    cfg["retry"] = {"initial": "100ms", "max": "1s"}
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "flockwatch", "notify", "run", "--config", str(cfg_path),
                             "--database", db_url], env=env, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # the dispatcher is up and working on the warm-up messages
        return store_and_enqueue(store, notifier, name, batches, size)
    finally:
        proc.terminate()
        proc.wait(30)


def isolation(batches: int, size: int) -> None:
    """Alert processing speed with no dispatcher, a dispatcher and a healthy receiver, and a
    dispatcher stuck on a dead receiver (every request hangs until its 2 s timeout)."""
    results = {}
    healthy, port = start_receiver()
    srv, dead_port, stop = black_hole()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["no dispatcher"] = run_scenario(tmp, "none", None, batches, size)
            results["dispatcher, healthy receiver"] = run_scenario(tmp, "healthy", f"http://127.0.0.1:{port}/hook",
                                                                  batches, size)
            results["dispatcher, dead receiver"] = run_scenario(tmp, "dead", f"http://127.0.0.1:{dead_port}/hook",
                                                               batches, size)
    finally:
        healthy.terminate()
        healthy.wait(5)
        stop.set()
        srv.close()
    for name, (upserts, enqueues) in results.items():
        print(f"isolation: {size}-alert batches, {name:30} upsert p50 {pct(upserts, .5) * 1e3:6.1f} ms "
              f"p99 {pct(upserts, .99) * 1e3:6.1f} ms | enqueue p50 {pct(enqueues, .5) * 1e3:5.1f} ms "
              f"p99 {pct(enqueues, .99) * 1e3:6.1f} ms")
    dead, ok = results["dispatcher, dead receiver"], results["dispatcher, healthy receiver"]
    total = lambda r: [u + e for u, e in zip(*r)]  # noqa: E731
    print(f"  store+enqueue p50, dead vs healthy receiver: {pct(total(dead), .5) / pct(total(ok), .5):.2f}x "
          "(the worker never waits for a receiver)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--database", help="Database URL (default: a temporary SQLite file)")
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        print(f"database: {url.split('@')[-1] if '@' in url else url}")
        throughput(url, args.alerts)
        isolation(args.batches, args.batch_size)


if __name__ == "__main__":
    main()
