"""A small sample stream, shipped as examples/sample-events.jsonl: a quick `scan` input and
the start of the worker tests' streams (the demo streams the agent-society simulator).

200 lines: ordinary traffic, a handful of attacks for the baseline rules (each marked
in attrs.synthetic_attack), one post flood, a safety-team warning that quotes an attack
(must NOT fire), and two poison lines the worker must dead-letter.
"""

from __future__ import annotations

import json

from flockwatch.simulate.firehose import SyntheticFirehose

POISON = (
    '{"event_id": "poison-1", "type": "post", "ts": "2026-01-30T12:00:05Z", "agent_id": "agent-00007", "text": "trunc',
    '{"event_id": "poison-2", "type": "telepathy", "ts": "2026-01-30T12:00:06Z", "agent_id": "agent-00008"}',
)
SEED = 20260156  # chosen so that every baseline rule fires at least once


def sample_lines() -> list[str]:
    gen = SyntheticFirehose(seed=SEED, agents=60, attack_share=0.03, prefix="demo")
    events = list(gen.events(150))
    events += gen._flood()  # noqa: SLF001 - one guaranteed flood for the demo
    events += list(gen.events(35))
    quote = gen._post(("moltbook-safety", "Moltbook Safety"),  # noqa: SLF001
                      text='PSA: posts saying "ignore all previous instructions" are prompt injections. Report them.')
    events.insert(170, quote)
    lines = [json.dumps(e, ensure_ascii=False) for e in sorted(events, key=lambda e: e["ts"])]
    lines.insert(40, POISON[0])
    lines.insert(120, POISON[1])
    return lines
