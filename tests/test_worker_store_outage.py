"""The alert store goes away while the worker runs, then comes back.

A TCP proxy sits between the worker and PostgreSQL (the machine's server is shared:
it is never stopped). Mid-stream the test cuts the proxy for about 10 s: open
connections are closed and new ones refused, as in a database restart or a network
cut. What an SRE must see:

* during the outage the worker stays up, says so (a log line naming the failure, the
  `flockwatch_store_up` gauge at 0, `flockwatch_store_retries_total` rising, `/readyz`
  503 with `store_reachable: false`), and commits no offset past an alert it has not
  stored;
* once the store is back, it resumes by itself: every alert `scan` finds on the same
  events is stored exactly once (same incidents and events, one history row per
  version), everything is committed, `/readyz` is 200 again.

The second test stops the worker during an outage (it must not hang until the store
is back), starts one while the store is still away (it must fail at once, clearly,
consuming nothing) and one after: nothing is lost or stored twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from flockwatch.kafka.offsets import committed_offsets, end_offsets, read_topic
from flockwatch.store.alert_store import AlertStore
from flockwatch.worker.process import WorkerProcess
from support.servers import postgres_schema, postgres_url
from support.streams import Topics, differences, produce, samples, scan_alerts, worker, write_stream
from support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

N_EVENTS = 5_000
FIRST_PART = 2_000  # lines produced before the outage; the rest is produced during it
OUTAGE = 10.0  # seconds


def wait_for(condition: Callable[[], object], timeout: float, what: str, w: WorkerProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = "" if w is None else "; worker log (tail):\n" + w.log_path.read_text()[-4000:]
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(0.1)


@pytest.fixture
def store_behind_proxy() -> Iterator[tuple[str, str, TcpProxy]]:
    """(direct URL, URL through the proxy, the proxy) of a fresh schema."""
    url, why = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL store tests skipped: {why}")
    with postgres_schema(url) as direct:
        target = make_url(direct)
        with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            via = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            yield direct, via, proxy


def split_stream(tmp: Path, seed: int) -> tuple[Path, Path, Path]:
    stream = write_stream(tmp / "events.jsonl", N_EVENTS, seed=seed)
    lines = stream.read_text().splitlines(keepends=True)
    first, rest = tmp / "first.jsonl", tmp / "rest.jsonl"
    first.write_text("".join(lines[:FIRST_PART]))
    rest.write_text("".join(lines[FIRST_PART:]))
    return stream, first, rest


def metric(w: WorkerProcess, name: str) -> float:
    return sum(samples(w.metrics(), name).values())


def unstored_but_committed(broker: str, topics: Topics, store: AlertStore, expected: dict[str, dict]) -> list[str]:
    """Expected alerts all of whose events are committed but whose stored version lacks
    some of them: an offset was committed past an alert that was not stored."""
    done = committed_offsets(broker, topics.group, topics.events)  # before the store is read: it only grows
    stored = {a.fingerprint: a for a in store.list(limit=100_000)}
    committed: set[str] = set()
    for rec in read_topic(broker, topics.events):
        if rec.offset < done.get(rec.partition, 0):
            committed.add(json.loads(rec.value)["event_id"])
    out = []
    for fp, e in expected.items():
        if set(e["event_ids"]) <= committed:
            have = stored.get(fp)
            if have is None or not set(e["event_ids"]) <= set(have.event_ids):
                out.append(f"{e['rule_id']} {e['event_ids'][:3]} (stored: {have is not None})")
    return out


def history_duplicates(direct: str) -> list[tuple[str, int]]:
    """(fingerprint, version) pairs recorded more than once by flockwatch itself."""
    store = AlertStore(direct)
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT fingerprint, version FROM alert_history WHERE actor = 'flockwatch'")).all()
    return [k for k, n in Counter((r[0], r[1]) for r in rows).items() if n > 1]


def check_outage_visible(w: WorkerProcess) -> None:
    wait_for(lambda: metric(w, "flockwatch_store_retries_total") > 0, 15, "a failed store write", w)
    wait_for(lambda: w.get("/readyz")[0] == 503, 10, "/readyz to report the outage", w)
    detail = w.ready_detail()
    assert detail["store_reachable"] is False and detail.get("store_error"), detail
    assert detail["partitions_assigned"] is True, detail  # the worker keeps its partitions
    assert samples(w.metrics(), "flockwatch_store_up") == {(): 0.0}
    log = w.log_path.read_text()
    assert "alert store unavailable" in log, log[-3000:]


def check_final(broker: str, topics: Topics, direct: str, expected: dict[str, dict]) -> None:
    store = AlertStore(direct)
    stored = {a.fingerprint: a for a in store.list(limit=100_000)}
    assert differences(stored, expected) == []
    assert store.count() == len(expected)
    assert history_duplicates(direct) == [], "an alert version was recorded twice"
    on_topic = {rec.key.decode() for rec in read_topic(broker, topics.alerts)}
    assert on_topic == set(expected)


def test_store_outage_mid_stream_loses_and_duplicates_nothing(
        broker: str, tmp_path: Path, store_behind_proxy: tuple[str, str, TcpProxy]) -> None:
    direct, via_proxy, proxy = store_behind_proxy
    stream, first, rest = split_stream(tmp_path, seed=31)
    expected = scan_alerts(stream)
    assert len(expected) > 20
    topics = Topics.unique("outage")
    produce(broker, first, topics.events)
    store = AlertStore(direct)
    w = worker(broker, topics, via_proxy, tmp_path, "--batch-size", "200").start()
    try:
        w.wait_ready(timeout=40)
        assert w.wait_drained(timeout=40), w.log_path.read_text()[-3000:]
        before = store.count()
        assert before > 0
        assert samples(w.metrics(), "flockwatch_store_up") == {(): 1.0}

        cut_at = time.monotonic()
        assert proxy.cut() > 0, "the worker held no store connection to cut"
        produce(broker, rest, topics.events)
        ends = end_offsets(broker, topics.events)
        check_outage_visible(w)
        while time.monotonic() - cut_at < OUTAGE:
            assert w.alive, w.log_path.read_text()[-3000:]
            assert unstored_but_committed(broker, topics, store, expected) == []
            time.sleep(1.0)
        done = committed_offsets(broker, topics.group, topics.events)
        assert sum(done.values()) < sum(ends.values()), "the outage held nothing back"
        assert store.count() == before, "alerts were stored through a cut proxy"

        proxy.restore()
        assert w.wait_drained(timeout=40), w.log_path.read_text()[-3000:]
        wait_for(lambda: w.get("/readyz")[0] == 200, 10, "/readyz to recover", w)
        assert samples(w.metrics(), "flockwatch_store_up") == {(): 1.0}
        assert "alert store is back" in w.log_path.read_text()
    finally:
        code = w.stop()
    assert code == 0, w.log_path.read_text()[-3000:]
    check_final(broker, topics, direct, expected)


def test_a_stop_during_an_outage_is_prompt_and_the_restart_loses_nothing(
        broker: str, tmp_path: Path, store_behind_proxy: tuple[str, str, TcpProxy]) -> None:
    """SIGTERM while a batch waits for the store: Faust would wait for that batch's
    acknowledgement until the store is back (and be SIGKILLed by the orchestrator);
    the worker exits 70 at once instead, acknowledging nothing more. A start while the
    store is still away fails at once with a clear error (nothing is consumed); one
    after it is back finishes the stream, and nothing is lost or stored twice."""
    direct, via_proxy, proxy = store_behind_proxy
    stream, first, rest = split_stream(tmp_path, seed=37)
    expected = scan_alerts(stream)
    topics = Topics.unique("outstop")
    produce(broker, first, topics.events)
    store = AlertStore(direct)
    w = worker(broker, topics, via_proxy, tmp_path, "--batch-size", "200").start()
    try:
        w.wait_ready(timeout=40)
        assert w.wait_drained(timeout=40), w.log_path.read_text()[-3000:]
        proxy.cut()
        produce(broker, rest, topics.events)
        wait_for(lambda: metric(w, "flockwatch_store_retries_total") > 0, 15, "a failed store write", w)
    finally:
        asked = time.monotonic()
        code = w.stop(timeout=20)
        took = time.monotonic() - asked
    log = w.log_path.read_text()
    assert code == 70, log[-3000:]
    assert took < 10, f"the stop took {took:.1f} s"
    assert "stopping while" in log and "events wait for the alert store" in log
    assert unstored_but_committed(broker, topics, store, expected) == []
    ends = end_offsets(broker, topics.events)
    assert sum(committed_offsets(broker, topics.group, topics.events).values()) < sum(ends.values())

    early = worker(broker, topics, via_proxy, tmp_path, name="early").start()
    wait_for(lambda: not early.alive, 30, "a start without the store to fail", early)
    assert early.returncode == 1
    assert "Error: cannot open the alert store" in early.log_path.read_text()

    proxy.restore()
    w = worker(broker, topics, via_proxy, tmp_path, name="restarted").start()
    try:
        assert w.wait_drained(timeout=60), w.log_path.read_text()[-3000:]
    finally:
        assert w.stop() == 0, w.log_path.read_text()[-3000:]
    check_final(broker, topics, direct, expected)
