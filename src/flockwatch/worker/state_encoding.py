"""JSON for the state table's changelog records, written and (after a recovery) read
back.

pydantic-core's serialiser (already a dependency through pydantic) writes the same
compact UTF-8 JSON as `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`
about 8x faster.

`StateEncoder` adds one thing: the JSON of a tuple of tuples inside a state value
(the remembered events of a counting rule's key) is put together from each inner
tuple's JSON, memoised by identity. Those records are immutable and shared: one
near-duplicate text is one record in ten LSH buckets, and a bucket is re-sent each
batch it changes, with up to 16 records. Each record holds a 256-bit MinHash
signature as an int, 1-2 µs to write in decimal; a full bucket took ~30 µs to
encode, and encoding was the worker's largest single cost with every pack.

Reading back: `decode`. The table holds what recovery reads as raw bytes, and
`TableState.sync` decodes them with pydantic-core, which reads integers of any size
exactly. Faust's own "json" codec is orjson whenever orjson is importable (a common
package beside web frameworks), and orjson reads an integer past 64 bits as a float:
with it, every restored MinHash signature came back as a float, the restarted worker's
first near-duplicate comparison raised, and the worker exited into the same failure
on every restart (tests/test_worker_restart_state.py).
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json, to_json

from flockwatch.detect.memo import Generations

MEMO_SIZE = 32_768  # records per memo generation (two are kept)


def encode(obj: Any) -> bytes:
    return to_json(obj)


def decode(raw: bytes | str) -> Any:
    """A changelog key or value as recovery read it: exact integers of any size."""
    return from_json(raw)


class StateEncoder:
    def __init__(self, memo_size: int = MEMO_SIZE):
        # id -> (the tuple itself, its JSON): holding the tuple keeps its id from being
        # reused. Two generations: records of busy keys are re-sent every batch, so they
        # stay; one flat memo cleared when full lost them all at once, with every
        # counting rule filling it.
        self._memo = Generations(memo_size)
        self._keys: dict[str, bytes] = {}  # dict key -> its JSON and a colon

    def entry(self, partition: int, value: Any) -> bytes:
        """The table value `[partition, value]`, byte for byte what `encode` writes."""
        return b"[%d,%s]" % (partition, self.value(value))

    def value(self, value: Any) -> bytes:
        if type(value) is not dict:
            return to_json(value)
        parts = []
        keys = self._keys
        for k, v in value.items():
            head = keys.get(k)  # type: ignore[arg-type]
            if head is None:
                if type(k) is not str:  # to_json writes other keys as strings; not worth copying
                    return to_json(value)
                head = to_json(k) + b":"
                if len(keys) < 1024:  # detectors use a few fixed names; a value keyed by data is not memoised
                    keys[k] = head
            if type(v) is tuple and v and type(v[0]) is tuple:
                parts.append(head + b"[" + b",".join([self._tuple(t) for t in v]) + b"]")
            else:
                parts.append(head + to_json(v))
        return b"{" + b",".join(parts) + b"}"

    def _tuple(self, t: Any) -> bytes:
        memo = self._memo
        hit = memo.young.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        hit = memo.old.get(id(t))  # not `fill`: an id alone may be a dead tuple's, reused
        if hit is None or hit[0] is not t:
            if type(t) is not tuple:  # a mixed sequence: no memo for the odd one out
                return to_json(t)
            hit = (t, to_json(t))
        memo.put(id(t), hit)
        return hit[1]
