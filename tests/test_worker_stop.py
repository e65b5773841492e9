"""How the worker stops and says it started: the ready line in the log.

(A SIGTERM while stage 2 holds forwarded records can wait in Faust's shutdown for records
never acknowledged; the fix tried on 2026-12-07 dropped records that could not be read
again and was reverted. See the session 16 note.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.streams import Topics, worker

pytestmark = pytest.mark.kafka


def test_the_ready_line_is_logged_even_when_a_probe_sees_readiness_first(broker: str, tmp_path: Path) -> None:
    topics = Topics.unique("ready")
    w = worker(broker, topics, f"sqlite:///{tmp_path / 'alerts.db'}", tmp_path)
    w.start().wait_ready(timeout=40)  # polls /readyz every 50 ms: it sees readiness before the 1 s timer
    time.sleep(2.5)
    assert w.stop() == 0
    assert "worker ready" in w.log_path.read_text(), w.log_path.read_text()[-2000:]
