"""Runs the demo: embedded broker, workers, alert API, the live society stream; progress
while it runs; the summary at the end. Everything it starts is a child process it
stops on the way out, whether the run ends, fails or is interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from flockwatch.demo.progress import Snapshot, progress_line, snapshot
from flockwatch.demo.stream import DemoPlan, DemoStream, paced
from flockwatch.demo.summary import DemoSummary, summarize
from flockwatch.embedded.broker import EmbeddedBroker, free_port
from flockwatch.kafka.producer import make_producer
from flockwatch.kafka.topics import ensure_topics
from flockwatch.store.alert_store import AlertStore

ALL_ALERTS = 100_000  # the demo's store holds a few hundred at most
API_PAGE = 1000  # the API's largest page


@dataclass
class DemoOptions:
    duration: float = 60.0
    rate: float = 200.0
    workers: int = 1
    partitions: int = 4
    seed: int = 7
    workdir: Path = Path("var/demo")
    rules: tuple[str, ...] = ()
    api_port: int | None = 0  # 0: any free port; None: no API
    progress_every: float = 2.0
    drain_timeout: float = 60.0


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class DemoResult:
    summary: DemoSummary
    produced: int
    processed: float
    seconds: float
    workers: list[int] = field(default_factory=list)  # metrics ports


class DemoRun:
    def __init__(self, options: DemoOptions, out: TextIO = sys.stdout):
        self.o = options
        self.out = out
        self.children: list[Child] = []
        self.stop_event = threading.Event()
        self.run_id = uuid.uuid4().hex[:8]
        self.workdir = options.workdir / self.run_id
        self.database_url = f"sqlite:///{self.workdir / 'alerts.db'}"
        self.topic = "platform.events"
        self.group = f"flockwatch-demo-{self.run_id}"
        self._store: AlertStore | None = None

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def run(self) -> DemoResult:
        self.workdir.mkdir(parents=True, exist_ok=True)
        t_start = time.monotonic()
        with ExitStack() as stack, _terminate_as_interrupt():
            broker = stack.enter_context(EmbeddedBroker(log_path=self.workdir / "broker.log"))
            stack.callback(self._stop_children)  # unwound first: workers leave while the broker is up
            self.say(f"broker     embedded Kafka-protocol broker (Tansu) on {broker}")
            ensure_topics(broker, {self.topic: self.o.partitions})
            workers = [self._start_worker(broker, n) for n in range(self.o.workers)]
            api = self._start_api()
            self._wait_ready(workers)
            if api is not None:
                self._wait_http(api, "/healthz")
            for n, w in enumerate(workers):
                self.say(f"worker {n + 1}   pid {w.proc.pid}, /metrics /healthz /readyz on http://127.0.0.1:{w.port}")
            self.say(f"store      {self.database_url}")
            if api is not None:
                self.say(f"alert API  http://127.0.0.1:{api.port}/api/v1/alerts (OpenAPI at /openapi.json)")
            plan = DemoPlan(duration=self.o.duration, rate=self.o.rate, seed=self.o.seed)
            stream = DemoStream(plan)
            events = stream.events()
            with (self.workdir / "labels.jsonl").open("w", encoding="utf-8") as fh:  # ground truth, for a look later
                fh.writelines(json.dumps(label) + "\n" for label in stream.labels)
            kinds = ", ".join(label["name"] for label in stream.labels)
            self.say(f"traffic    {len(events):,} events over {self.o.duration:.0f}s from "
                     f"{plan.background_events:,} background (from {plan.society_agents:,} agents) + incidents: {kinds}")
            self.say("")
            produced = self._produce(broker, events, workers)
            self.say("waiting for the workers to finish the stream...")
            final = self._wait_processed(workers, produced)
            self.say(progress_line(final, None, time.monotonic() - t_start, produced, self._alert_counts()))
            alerts = AlertStore(self.database_url).list(limit=ALL_ALERTS)
            summary = summarize(alerts, stream.labels)
            self.say("")
            self.say(summary.render())
            if api is not None:  # the same alerts, as the API serves them to people
                status, body = api.get(f"/api/v1/alerts?limit={API_PAGE}", timeout=10)
                served = json.loads(body)["count"] if status == 200 else f"error {status}"
                self.say(f"\nalert API served {served} alerts from the store")
            return DemoResult(summary, produced, final.events, time.monotonic() - t_start,
                              [w.port for w in workers if w.port])

    # -- children ------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], port: int | None) -> Child:
        log = self.workdir / f"{name}.log"
        env = _child_env() | {"FLOCKWATCH_DATABASE_URL": self.database_url}  # every command reads it
        with log.open("ab") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "flockwatch", *args], stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)
        child = Child(name, proc, log, port)
        self.children.append(child)
        return child

    def _start_worker(self, broker: str, n: int) -> Child:
        port = free_port()
        args = ["worker", "--broker", broker, "--group", self.group, "--topic", self.topic,
                "--partitions", str(self.o.partitions), "--metrics-port", str(port),
                "--data-dir", str(self.workdir / f"faust-{n}")]
        for r in self.o.rules:
            args += ["--rules", r]
        return self._spawn(f"worker-{n + 1}", args, port)

    def _start_api(self) -> Child | None:
        if self.o.api_port is None or importlib.util.find_spec("flockwatch.cli.api_cmd") is None:
            return None
        port = self.o.api_port or free_port()
        return self._spawn("api", ["api", "serve", "--host", "127.0.0.1", "--port", str(port)], port)

    def _wait_ready(self, workers: list[Child], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(workers)
        while pending:
            for w in list(pending):
                if w.proc.poll() is not None:
                    raise RuntimeError(f"{w.name} exited with {w.proc.returncode}; see {w.log}")
                if w.get("/readyz", timeout=1.0)[0] == 200:
                    pending.remove(w)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{', '.join(w.name for w in pending)} not ready within {timeout:.0f}s")
            time.sleep(0.1)

    def _wait_http(self, child: Child, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while child.get(path, timeout=1.0)[0] != 200:
            if child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.proc.returncode}; see {child.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} did not answer {path} within {timeout:.0f}s; see {child.log}")
            time.sleep(0.1)

    def _stop_children(self) -> None:
        for child in self.children:  # all asked at once, so they shut down in parallel
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            child.stop()

    def _wait_processed(self, workers: list[Child], produced: int) -> Snapshot:
        """Until the workers have counted every event sent (valid or dead-lettered)."""
        deadline = time.monotonic() + self.o.drain_timeout
        while True:
            snap = snapshot(self._metrics(workers))
            if snap.events + snap.dead_letters >= produced or time.monotonic() > deadline:
                return snap
            if any(w.proc.poll() is not None for w in workers):
                raise RuntimeError("a worker exited before finishing the stream; see its log in " + str(self.workdir))
            time.sleep(0.2)

    def _alert_counts(self) -> dict[str, int]:
        """Incidents (alerts, not alert updates) in the store, by category."""
        if self._store is None:
            self._store = AlertStore(self.database_url)
        return {cat: n for cat, n in self._store.counts_by("category")}

    def _metrics(self, workers: list[Child]) -> Iterator[str]:
        for w in workers:
            status, body = w.get("/metrics")
            if status == 200:
                yield body.decode()

    # -- the stream --------------------------------------------------------------------

    def _produce(self, broker: str, events: list[tuple[float, dict]], workers: list[Child]) -> int:
        producer = make_producer(broker)
        sent = 0
        t0 = time.monotonic()
        next_report = t0 + self.o.progress_every
        before: Snapshot | None = None
        try:
            for ev in paced(events, clock=t0, stop=self.stop_event):
                producer.send(self.topic, key=ev["agent_id"].encode(), value=json.dumps(ev).encode())
                sent += 1
                now = time.monotonic()
                if now >= next_report:
                    next_report = now + self.o.progress_every
                    snap = snapshot(self._metrics(workers))
                    self.say(progress_line(snap, before, now - t0, sent, self._alert_counts()))
                    before = snap
                    if any(w.proc.poll() is not None for w in workers):
                        raise RuntimeError("a worker exited during the demo; see its log in " + str(self.workdir))
            producer.flush()
        finally:
            producer.close(timeout=5)
        return sent


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the children are stopped either way."""
    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous: Callable | int | None = None
    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: the caller handles signals
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # run the same flockwatch as this process
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env
