"""Safe rule reload: a good change takes effect without losing events; a bad one
(broken YAML, failing inline test, catastrophic regex) is refused, recorded, alerted on,
and the old rules keep running."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from flockwatch.alerts.alert import Alert
from flockwatch.detect.state import DictState
from flockwatch.ingest.decode import decode_object
from flockwatch.metrics.registry import Metrics
from flockwatch.pipeline.processor import Processor
from flockwatch.rules.errors import PackError
from flockwatch.rules.loader import pack_files
from flockwatch.rules.reload import RELOAD_FAILED_RULE, RuleSet
from flockwatch.rules.watch import RuleWatcher, install_sighup

PACK = """\
pack:
  name: watch
  version: {version}
  requires_engine: ">=1.0,<2"
rules:
  - id: watch.word
    title: {title}
    description: the watched word
    category: spam_cascade
    severity: medium
    events: [post]
    condition:
      field: text
      icontains: {word}
    tests:
      fire: [{{text: "say {word} now"}}]
      quiet: [{{text: "nothing here"}}]
"""

THRESHOLD = """\
  - id: watch.flood
    type: {type}
    title: Flood
    description: many posts by one agent
    category: spam_cascade
    severity: low
    events: [post]
    condition: {{field: text, icontains: flood}}
{params}
"""
THRESHOLD_PARAMS = "    group_by: [agent_id]\n    window: 10m\n    threshold: 3\n"


def pack(version: str = "1.0.0", word: str = "alpha", title: str = "Watched word", extra: str = "") -> str:
    return PACK.format(version=version, word=word, title=title) + extra


def flood_rule(type_: str = "threshold") -> str:
    return THRESHOLD.format(type=type_, params=THRESHOLD_PARAMS if type_ == "threshold" else "")


_n = 0


def event(text: str, agent: str = "a1", type_: str = "post"):
    global _n
    _n += 1
    ev = decode_object({"event_id": f"e{_n}", "type": type_, "ts": f"2026-01-30T12:00:{_n % 60:02d}Z",
                        "agent_id": agent, "text": text})
    assert not hasattr(ev, "reason"), ev
    return ev


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "watch.yaml").write_text(pack())
    return d


@pytest.fixture
def alerts_raised() -> list[Alert]:
    return []


@pytest.fixture
def ruleset(rules_dir: Path, alerts_raised: list[Alert]) -> RuleSet:
    return RuleSet([rules_dir], metrics=Metrics(), on_alert=alerts_raised.append)


def fires(rs: RuleSet, text: str) -> bool:
    return any(a.rule_id == "watch.word" for a in rs.process(event(text)))


def test_good_change_takes_effect(ruleset: RuleSet, rules_dir: Path, alerts_raised: list[Alert]) -> None:
    m = ruleset.metrics
    assert fires(ruleset, "alpha here") and not fires(ruleset, "beta here")
    old_sha = ruleset.packs[0].sha256
    (rules_dir / "watch.yaml").write_text(pack("1.1.0", "beta"))
    result = ruleset.reload("manual")
    assert result.outcome == "success", result
    assert "watch 1.0.0 -> 1.1.0" in result.reason
    assert fires(ruleset, "beta here") and not fires(ruleset, "alpha here")
    new_sha = ruleset.packs[0].sha256
    assert sample(m, "flockwatch_rules_reload_success") == 1
    assert sample(m, "flockwatch_rules_reloads_total", outcome="success") == 1
    assert sample(m, "flockwatch_rule_pack_info", pack="watch", version="1.1.0", sha256=new_sha) == 1
    # the replaced version is gone, not left behind as a second "loaded" series
    assert sample(m, "flockwatch_rule_pack_info", pack="watch", version="1.0.0", sha256=old_sha) is None
    assert sample(m, "flockwatch_rules_loaded_timestamp_seconds") == pytest.approx(result.at)
    assert alerts_raised == []
    ruleset.flush_metrics()
    assert sample(m, "flockwatch_active_incidents", category="spam_cascade") == 2  # one alert per event


BAD_CHANGES = {
    "broken_yaml": ("invalid", pack("1.1.0", "beta").replace("    severity: medium", "    severity: [medium")),
    "failing_inline_test": ("tests_failed", pack("1.1.0", "beta").replace('fire: [{text: "say beta now"}]',
                                                                           'fire: [{text: "say gamma now"}]')),
    "catastrophic_regex": ("invalid", pack("1.1.0", "beta").replace("icontains: beta", "regex: '(a+)+$'")),
}


@pytest.mark.parametrize("name", sorted(BAD_CHANGES))
def test_bad_change_is_refused_and_old_rules_keep_running(
    name: str, ruleset: RuleSet, rules_dir: Path, alerts_raised: list[Alert]
) -> None:
    outcome, text = BAD_CHANGES[name]
    m = ruleset.metrics
    before = ruleset.engine
    (rules_dir / "watch.yaml").write_text(text)
    result = ruleset.reload("sighup")
    assert result.outcome == outcome
    assert not result.ok
    assert ruleset.engine is before
    assert fires(ruleset, "alpha again") and not fires(ruleset, "beta again")
    assert sample(m, "flockwatch_rules_reload_success") == 0
    assert sample(m, "flockwatch_rules_reloads_total", outcome=outcome) == 1
    assert sample(m, "flockwatch_rule_pack_info", pack="watch", version="1.0.0", sha256=before.packs[0].sha256) == 1
    # why it was refused is recorded, naming the file
    assert "watch.yaml" in result.issues[0]
    assert ruleset.history[-1] is result
    # and an internal alert says so, shaped like any other alert
    [alert] = alerts_raised
    assert alert.rule_id == RELOAD_FAILED_RULE and alert.category == "other" and alert.pack == "flockwatch"
    assert alert.evidence["outcome"] == outcome and alert.evidence["trigger"] == "sighup"
    assert "watch 1.0.0" in alert.summary


def test_refusal_detail_names_the_cause(ruleset: RuleSet, rules_dir: Path) -> None:
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["catastrophic_regex"][1])
    assert "catastrophic backtracking" in ruleset.reload().issues[0]
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["failing_inline_test"][1])
    assert "fire[0] failed" in ruleset.reload().issues[0]
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["broken_yaml"][1])
    assert "YAML" in ruleset.reload().issues[0]


def test_same_broken_files_are_one_incident(ruleset: RuleSet, rules_dir: Path, alerts_raised: list[Alert]) -> None:
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["broken_yaml"][1])
    ruleset.reload("sighup")
    ruleset.reload("sighup")
    assert len({a.fingerprint for a in alerts_raised}) == 1 and len(alerts_raised) == 2
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["catastrophic_regex"][1])
    ruleset.reload("sighup")
    assert len({a.fingerprint for a in alerts_raised}) == 2


def test_reverting_a_refused_change_clears_the_failure(ruleset: RuleSet, rules_dir: Path) -> None:
    good = (rules_dir / "watch.yaml").read_text()
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["broken_yaml"][1])
    assert ruleset.reload().outcome == "invalid"
    (rules_dir / "watch.yaml").write_text(good)
    result = ruleset.reload()
    assert result.outcome == "unchanged" and result.ok
    assert sample(ruleset.metrics, "flockwatch_rules_reload_success") == 1


def test_removing_every_pack_is_refused(ruleset: RuleSet, rules_dir: Path) -> None:
    (rules_dir / "watch.yaml").unlink()
    result = ruleset.reload()
    assert result.outcome == "invalid" and "no rule pack files" in result.issues[0]
    assert fires(ruleset, "alpha still")


def test_a_failing_alert_sink_does_not_break_the_reload(rules_dir: Path) -> None:
    def broken_sink(alert: Alert) -> None:
        raise ConnectionError("store down")

    rs = RuleSet([rules_dir], metrics=Metrics(), on_alert=broken_sink)
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["broken_yaml"][1])
    assert rs.reload().outcome == "invalid"
    assert fires(rs, "alpha")


def test_startup_refuses_broken_packs(rules_dir: Path) -> None:
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["broken_yaml"][1])
    with pytest.raises(PackError):
        RuleSet([rules_dir])
    (rules_dir / "watch.yaml").write_text(BAD_CHANGES["failing_inline_test"][1])
    RuleSet([rules_dir])  # loads: inline tests are only a gate when asked for
    with pytest.raises(PackError, match="fire"):
        RuleSet([rules_dir], test_on_start=True)


def test_stateful_state_survives_a_reload(rules_dir: Path) -> None:
    (rules_dir / "watch.yaml").write_text(pack(extra=flood_rule()))
    state = DictState()
    rs = RuleSet([rules_dir], state=state)
    for _ in range(2):
        assert rs.process(event("flood", agent="f1")) == []
    (rules_dir / "watch.yaml").write_text(pack("1.1.0", "beta", extra=flood_rule()))
    assert rs.reload().outcome == "success"
    [alert] = [a for a in rs.process(event("flood", agent="f1")) if a.rule_id == "watch.flood"]
    assert alert.count == 3  # the two events counted before the reload still count


def test_state_of_a_rule_that_changed_type_is_dropped(rules_dir: Path) -> None:
    (rules_dir / "watch.yaml").write_text(pack(extra=flood_rule()))
    state = DictState()
    rs = RuleSet([rules_dir], state=state)
    rs.process(event("flood", agent="f1"))
    assert state.for_rule("watch.flood")
    (rules_dir / "watch.yaml").write_text(pack("1.1.0", extra=flood_rule("match")))
    assert rs.reload().outcome == "success"
    assert "watch.flood" not in state._rules


def test_watermark_carries_over(ruleset: RuleSet, rules_dir: Path) -> None:
    ruleset.process(event("x"))
    mark = ruleset.watermark
    (rules_dir / "watch.yaml").write_text(pack("1.1.0", "beta"))
    ruleset.reload()
    assert ruleset.watermark == mark


def test_no_event_is_lost_or_doubled_while_reloading(rules_dir: Path) -> None:
    """A feeder thread pushes events through the processor while the main thread
    reloads back and forth; every event is counted once and alerts exactly once."""
    both = "alpha beta"
    (rules_dir / "watch.yaml").write_text(pack("1.0.0", "alpha"))
    metrics = Metrics()
    rs = RuleSet([rules_dir], metrics=metrics)
    processor = Processor(rs, metrics)
    per_event: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set() or i < 500:
            raw = ('{"event_id":"f%d","type":"post","ts":"2026-01-30T12:00:00Z","agent_id":"a","text":"%s"}'
                   % (i, both)).encode()
            outcome = processor.handle(raw, {"n": i})
            assert outcome.dead_letter is None
            mine = [a for a in outcome.alerts if a.rule_id == "watch.word"]
            per_event.append(len(mine))
            versions.update(a.pack_version for a in mine)
            i += 1

    t = threading.Thread(target=feed)
    t.start()
    for n in range(1, 9):
        (rules_dir / "watch.yaml").write_text(pack(f"1.0.{n}", "beta" if n % 2 else "alpha"))
        assert rs.reload().outcome == "success"
        time.sleep(0.01)  # let the feeder run on this version
    stop.set()
    t.join()
    rs.flush_metrics()
    total = len(per_event)
    assert set(per_event) == {1}  # every event alerted exactly once, under one version
    assert len(versions) >= 3  # events really were evaluated by several rule versions
    assert sample(metrics, "flockwatch_events_total", type="post") == total
    assert sample(metrics, "flockwatch_rule_matches_total", rule="watch.word", pack="watch",
                  category="spam_cascade", severity="medium") == total


def wait_for(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def replace_file(path: Path, text: str) -> None:
    """Write the way editors and the kubelet do (new file, then rename), so the watcher
    never reads a half-written file and the test knows exactly what it saw."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def test_file_change_triggers_a_reload(ruleset: RuleSet, rules_dir: Path) -> None:
    with RuleWatcher(ruleset, interval=0.05, settle=0.05) as watcher:
        time.sleep(0.1)
        replace_file(rules_dir / "watch.yaml", pack("1.1.0", "beta"))
        assert wait_for(lambda: ruleset.packs[0].version == "1.1.0")
        assert watcher.last_result is not None and watcher.last_result.trigger == "file_change"
        replace_file(rules_dir / "watch.yaml", BAD_CHANGES["broken_yaml"][1])
        assert wait_for(lambda: ruleset.history[-1].outcome == "invalid")
        attempts = watcher.attempts
        time.sleep(0.3)
        assert watcher.attempts == attempts  # an unchanged broken file is not retried in a loop
    assert fires(ruleset, "beta") and not fires(ruleset, "alpha")


def test_sighup_triggers_a_reload(ruleset: RuleSet, rules_dir: Path) -> None:
    with RuleWatcher(ruleset, interval=30, watch_files=False) as watcher:
        previous = install_sighup(watcher)
        try:
            (rules_dir / "watch.yaml").write_text(pack("1.1.0", "beta"))
            os.kill(os.getpid(), signal.SIGHUP)
            assert wait_for(lambda: watcher.attempts == 1)
        finally:
            signal.signal(signal.SIGHUP, previous)
    assert ruleset.history[-1].trigger == "sighup" and ruleset.history[-1].outcome == "success"
    assert fires(ruleset, "beta")


def configmap_layout(root: Path, text: str, stamp: str) -> None:
    """What the kubelet does for a ConfigMap volume: files live in a timestamped
    directory, `..data` points at it, and each key is a symlink through `..data`."""
    target = root / f"..{stamp}"
    target.mkdir()
    (target / "watch.yaml").write_text(text)
    tmp = root / "..data_tmp"
    tmp.symlink_to(target.name)
    tmp.replace(root / "..data")
    link = root / "watch.yaml"
    if not link.is_symlink():
        link.symlink_to("..data/watch.yaml")


def test_configmap_volume_loads_once_and_updates_by_symlink_swap(tmp_path: Path) -> None:
    root = tmp_path / "cm"
    root.mkdir()
    configmap_layout(root, pack(), "2026_01_30_12_00_00.1")
    assert [p.name for p in pack_files([root])] == ["watch.yaml"]
    rs = RuleSet([root])
    with RuleWatcher(rs, interval=0.05, settle=0.05):
        time.sleep(0.1)
        configmap_layout(root, pack("1.1.0", "beta"), "2026_01_30_12_05_00.1")
        assert wait_for(lambda: rs.packs[0].version == "1.1.0")
