"""Rejected records are logged, boundedly and safely (pipeline/rejection_log.py), in the worker's batch step."""

from __future__ import annotations

import logging

from flockwatch.detect.engine import Engine
from flockwatch.pipeline.processor import Processor
from flockwatch.pipeline.rejection_log import RejectionLog, printable
from flockwatch.worker.batch import BatchStep, Record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rejected(n: int, reason: str = "invalid_json", error: str = "Expecting value") -> dict:
    return {"reason": reason, "error": error, "source": {"topic": "t", "partition": 1, "offset": n}}


def messages(caplog) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "flockwatch.rejected"]


def test_each_rejection_is_logged_with_where_and_why(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    log = RejectionLog("t.dead-letter", clock=Clock())
    log.note(rejected(7))
    log.note(rejected(8, "engine_error", "ZeroDivisionError: division by zero"))
    assert messages(caplog) == [
        ("WARNING", "rejected record t/1@7 (invalid_json): Expecting value; sent to t.dead-letter"),
        ("ERROR", "rejected record t/1@8 (engine_error): ZeroDivisionError: division by zero; sent to t.dead-letter"),
    ]


def test_a_flood_is_cut_to_a_few_lines_and_one_summary_per_window(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    clock = Clock()
    log = RejectionLog("dl", per_window=3, window=60, clock=clock)
    for n in range(1000):
        log.note(rejected(n, "bad_value" if n % 2 else "invalid_json"))
    log.flush()
    assert len(messages(caplog)) == 3  # the window is not over: no summary yet
    clock.now += 61
    log.flush()
    summary = messages(caplog)[-1][1]
    assert summary.startswith("997 more records rejected in the last 61 s") and "bad_value 499" in summary
    assert "invalid_json 498" in summary and summary.endswith("all are in dl")
    log.note(rejected(5000))  # a new window logs again
    assert messages(caplog)[-1][1].startswith("rejected record t/1@5000")
    clock.now += 61
    log.flush()
    assert len(messages(caplog)) == 5  # nothing suppressed: no summary line


def test_hostile_error_text_cannot_forge_log_lines() -> None:
    text = printable("bad\nINFO forged line\r\x1b[31m\u2028" + "x" * 500)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\u2028" not in text
    assert text.startswith("bad\\x0aINFO forged line\\x0d\\x1b[31m\\u2028") and text.endswith("…")
    assert len(text) < 340


def test_the_batch_step_logs_what_it_dead_letters(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    step = BatchStep(Processor(Engine([])), store=None, rejections=RejectionLog("ev.dl"))  # type: ignore[arg-type]
    out = step.evaluate([Record(b"{oops", None, "ev", 2, 41), Record(b'{"type": "nope"}', None, "ev", 2, 42)])
    assert len(out.dead_letters) == 2
    logged = messages(caplog)
    assert [m[1].split(":")[0] for m in logged] == ["rejected record ev/2@41 (invalid_json)",
                                                     "rejected record ev/2@42 (missing_field)"], logged
