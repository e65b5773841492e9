"""One multi-pattern pass per text field finds which predicates could match.

Every prefilterable string predicate gets a slot; each field's patterns go into one
RE2 `Set`. Scanning an event is then one `Set.Match` per non-empty field, and the
engine evaluates only rules whose required slots were hit (plus rules that cannot
be prefiltered at all).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import re2

from flockwatch.ingest.event import Event
from flockwatch.rules.conditions import Predicate, prefilterable

_MAX_MEM = 256 << 20  # RE2's default 8 MiB is too small for hundreds of patterns


class PrefilterIndex:
    def __init__(self, predicates: list[Predicate]):
        self.slots = 0
        by_field: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for pred in predicates:
            if not prefilterable(pred):
                pred.slot = None
                continue
            pred.slot = self.slots
            self.slots += 1
            for f in pred.fields:
                by_field[f].append((pred.slot, pred.op.prefilter or ""))
        self.fields: list[tuple[str, Any, list[int]]] = []
        for f, entries in sorted(by_field.items()):
            opts = re2.Options()
            opts.max_mem = _MAX_MEM
            s = re2.Set.SearchSet(opts)
            slot_of: list[int] = []
            for slot, pattern in entries:
                s.Add(pattern)
                slot_of.append(slot)
            s.Compile()
            # Keep the raw _re2.Set: the Python wrapper's per-call isinstance/encode
            # dispatch costs as much as the match itself on short posts.
            self.fields.append((f, s._set, slot_of))

    def scan(self, event: Event) -> set[tuple[str, int]]:
        hits: set[tuple[str, int]] = set()
        for name, rset, slot_of in self.fields:
            value = getattr(event, name)
            if value:
                for i in rset.Match(value.encode()) or ():
                    hits.add((name, slot_of[i]))
        return hits
