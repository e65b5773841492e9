"""The engine: one event in, alerts out. Same code path for `scan`, the worker and
inline rule tests.

Per event: one prefilter pass over the text fields; then only the rules whose
required patterns were hit (or that cannot be prefiltered) have their conditions
evaluated with the `regex` module; matches go through exceptions to the rule's
detector; findings become alerts. Rule types may share a cheaper per-event test
(`Detector.screen`: the cue bank for `cue_score`, a BIP-39 run for `seed_phrase`)
that rules out rules before they are called; its time counts as prefilter time. Decoded content that a detector hands back
(`Finding.derived`) is fed through every rule again, up to `max_depth`.

With `repartition=True`, stateful rules whose state is not keyed by agent are not
evaluated in place: each match becomes `Forward`s (one per partition key, collected
in `forwards`) that the caller routes to the key's owner, which calls
`observe_forward` in event-time order (see `repartition.py`). Rules keyed by agent,
and stateless rules, run in place as before: all of an agent's events share one
firehose partition.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from flockwatch.alerts.alert import Alert, alert_id_of, fingerprint_of, iso
from flockwatch.alerts.redact import redact, redact_data
from flockwatch.detect.compiled import CompiledPack, CompiledRule
from flockwatch.detect.detector import Finding, Screen
from flockwatch.detect.prefilter_index import PrefilterIndex
from flockwatch.detect.repartition import Forward
from flockwatch.detect.state import DictState, StateBackend
from flockwatch.ingest.event import EVENT_TYPES, Event
from flockwatch.metrics.registry import Metrics
from flockwatch.rules.conditions import EvalContext, Predicate
from flockwatch.rules.predicates import RegexTimeout

log = logging.getLogger(__name__)

GC_EVERY = 2000  # events between garbage collections of stateful state
METRICS_FLUSH_EVERY = 256  # events between pushes of hot-path counters into prometheus
HISTOGRAM_SAMPLE = 16  # observe engine time for 1 event in 16: a fair sample, 16x cheaper


class Engine:
    def __init__(
        self,
        packs: Iterable[CompiledPack],
        *,
        metrics: Metrics | None = None,
        state: StateBackend | None = None,
        max_depth: int = 3,
        prefilter: bool = True,
        include_disabled: bool = False,
        repartition: bool = False,
    ):
        self.packs = list(packs)
        self.metrics = metrics
        self.state = state or DictState()
        self.max_depth = max_depth
        self.rules: list[CompiledRule] = [
            r for p in self.packs for r in p.rules if r.enabled or include_disabled
        ]
        predicates: list[Predicate] = []
        for rule in self.rules:
            predicates.extend(_predicates(rule))
        self.prefilter = PrefilterIndex(predicates) if prefilter else None
        for rule in self.rules:
            rule.need = rule.condition.need() if prefilter else None
        # Per event type: rules that always run, and slot -> rules that need it.
        self._always: dict[str, list[int]] = {t: [] for t in EVENT_TYPES}
        self._by_slot: dict[str, dict[int, list[int]]] = {t: defaultdict(list) for t in EVENT_TYPES}
        # Rules the prefilter cannot narrow but whose detector shares a screen with
        # others (cue_score rules: one cue-bank scan per event): per event type and
        # screen, screen slot -> rules. Only rules one of whose slots hit are asked.
        screened: dict[str, dict[Screen, dict[int, list[int]]]] = {t: {} for t in EVENT_TYPES}
        self._screened_ids: set[str] = set()
        # Rules the prefilter picks that also have a screen (seed_phrase: are there
        # twelve BIP-39 words in a row?): the screen runs only when the prefilter
        # picked them, and drops them before their condition is evaluated.
        self._post_screen: dict[int, Screen] = {}
        for idx, rule in enumerate(self.rules):
            screen = rule.detector.screen() if prefilter else None
            if screen is not None and rule.need is not None:
                self._post_screen[idx] = screen[0]
                screen = None
            if screen is not None:
                self._screened_ids.add(rule.id)
            for t in rule.events:
                if screen is not None:
                    by_screen_slot = screened[t].setdefault(screen[0], defaultdict(list))
                    for slot in screen[1]:
                        by_screen_slot[slot].append(idx)
                elif rule.need is None:
                    self._always[t].append(idx)
                else:
                    for slot in rule.need:
                        self._by_slot[t][slot].append(idx)
        self._screened = {t: [(s, dict(by)) for s, by in screened[t].items()] for t in EVENT_TYPES}
        self._possible = [rule.detector.possible for rule in self.rules]
        self.stateful = [r for r in self.rules if r.detector.stateful]
        self.repartition = repartition
        # Rules whose keys do not follow the firehose's agent partitioning: forwarded.
        self.forwarded_ids = {r.id for r in self.stateful if repartition and not r.detector.agent_local}
        self._forwarded = [i in self.forwarded_ids for i in (r.id for r in self.rules)]
        self._index_of = {r.id: i for i, r in enumerate(self.rules)}
        self.forwards: list[Forward] = []  # emitted by `process`; the caller takes them
        self.watermark = float("-inf")
        self.forward_watermark = float("-inf")  # latest event time observed by forwarded rules
        # Event time up to which every source of events has been read (the worker: the
        # least of its partitions' latest times). None: `watermark`, right for one
        # time-ordered source; with several, one running ahead must not expire state
        # that the others' events still need.
        self.low_watermark: float | None = None
        self.forward_low_watermark: float | None = None  # the same for forwarded rules' sources
        self._since_gc = 0
        self._since_forward_gc = 0
        # Regex matches that ran past their time budget (each also logged and counted in
        # flockwatch_rule_errors_total): inline tests read it to tell a rule that does not
        # fire from a machine too busy to finish the match.
        self.regex_timeouts = 0
        # rule id -> the last error its summary template raised (the alert kept a fallback
        # summary): inline tests read it, so a template that cannot render fails its test.
        self.template_errors: dict[str, str] = {}
        # Hot-path metric accumulators, flushed every METRICS_FLUSH_EVERY events: a
        # prometheus_client inc costs ~1 us, which adds up at tens of thousands of events/s.
        self._pending_events: dict[str, int] = defaultdict(int)
        self._pending_time: dict[str, float] = defaultdict(float)  # "_prefilter" only
        self._pending_rule_time = [0.0] * len(self.rules)  # by rule index; packs summed at flush
        self._pending_n = 0
        if metrics:
            metrics.rules_loaded.set(len(self.rules))
            for p in self.packs:
                metrics.packs.labels(p.name, p.version, p.sha256).set(1)

    def reset_state(self) -> None:
        """Forget all stateful state and event time (inline tests start each case clean)."""
        self.state = DictState()
        for rule in self.stateful:
            rule.detector.reset()
        self.watermark = float("-inf")
        self.forward_watermark = float("-inf")
        self._since_gc = 0
        self._since_forward_gc = 0
        self.forwards = []
        self.template_errors.clear()

    def set_low_watermark(self, ts: float | None, *, forwarded: bool = False) -> None:
        if forwarded:
            self.forward_low_watermark = ts
        else:
            self.low_watermark = ts

    def take_forwards(self) -> list[Forward]:
        out, self.forwards = self.forwards, []
        return out

    @property
    def always_evaluated(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.need is None and r.id not in self._screened_ids]

    def process(self, event: Event) -> list[Alert]:
        if self.metrics is None:
            return self._process(event, depth=0)
        t0 = time.perf_counter()
        alerts = self._process(event, depth=0)
        self._pending_n += 1
        if self._pending_n % HISTOGRAM_SAMPLE == 0:
            self.metrics.engine_event.observe(time.perf_counter() - t0)
        if self._pending_n >= METRICS_FLUSH_EVERY:
            self.flush_metrics()
        return alerts

    def flush_metrics(self) -> None:
        """Push accumulated counters to prometheus (also call before reading them)."""
        m = self.metrics
        if m is not None:
            for type_, n in self._pending_events.items():
                m.events.labels(type_).inc(n)
            by_pack = self._pending_time
            for idx, secs in enumerate(self._pending_rule_time):
                if secs:
                    rule = self.rules[idx]
                    by_pack[rule.pack] += secs
                    m.rule_time(rule.id, rule.pack, secs)
            for pack, secs in by_pack.items():
                m.engine_time(pack, secs)
        self._pending_events.clear()
        self._pending_time.clear()
        self._pending_rule_time = [0.0] * len(self.rules)
        self._pending_n = 0

    def _candidates(self, event: Event, hits: set[tuple[str, int]] | None) -> list[int]:
        t = event.type
        if hits is None:
            return [i for i, r in enumerate(self.rules) if t in r.events]
        by_slot = self._by_slot[t]
        chosen = set(self._always[t])
        for _field, slot in hits:
            chosen.update(by_slot.get(slot, ()))
        possible = self._possible
        post_screen = self._post_screen
        if post_screen and not chosen.isdisjoint(post_screen):
            for idx in [i for i in chosen if i in post_screen]:
                if not possible[idx](post_screen[idx].hits(event)):
                    chosen.discard(idx)
        for screen, by_screen_slot in self._screened[t]:
            screen_hits = screen.hits(event)
            maybe: set[int] = set()
            for slot in screen_hits:
                rules_of_slot = by_screen_slot.get(slot)
                if rules_of_slot is not None:
                    maybe.update(rules_of_slot)
            for idx in maybe:
                if idx not in chosen and possible[idx](screen_hits):
                    chosen.add(idx)
        return sorted(chosen)

    def _process(self, event: Event, depth: int) -> list[Alert]:
        m = self.metrics
        ts = event.epoch
        if depth == 0:
            if "derived" in event.attrs:
                # `attrs.derived` is the decoding chain the engine records on text it
                # decoded itself; arriving from outside it would forge that evidence.
                event = event.model_copy(update={"attrs": {k: v for k, v in event.attrs.items() if k != "derived"}})
            if ts > self.watermark:
                self.watermark = ts
            if m:
                self._pending_events[event.type] += 1
        rule_time, rules, clock = self._pending_rule_time, self.rules, time.perf_counter
        t_pre = clock()
        hits = self.prefilter.scan(event) if self.prefilter else None
        candidates = self._candidates(event, hits)
        ctx = EvalContext(event=event, hits=hits)
        t0 = clock()  # one clock read per rule: the end of one rule starts the next
        self._pending_time["_prefilter"] += t0 - t_pre
        alerts: list[Alert] = []
        derived: list[Event] = []
        for idx in candidates:
            rule = rules[idx]
            # The detector is inside the try too: some evaluate conditions of their own
            # (a sequence's steps, a cue score's context), whose regexes can time out.
            try:
                if rule.matches(ctx):
                    if self._forwarded[idx]:
                        evidence, rule_id = list(ctx.evidence), rule.id
                        self.forwards.extend([Forward(rule_id, key, event, evidence)
                                              for key in rule.detector.partition_keys(event)])
                    else:
                        det = rule.detector
                        state = self.state.for_rule(rule.id) if det.stateful else None
                        for finding in det.add_data(event, ctx.evidence, state):
                            alerts.append(self._alert(rule, finding))
                            derived.extend(finding.derived)
            except RegexTimeout as exc:
                self._regex_timed_out(rule, exc, event)
            t1 = clock()
            rule_time[idx] += t1 - t0
            t0 = t1
        if depth < self.max_depth:
            for d in derived:
                alerts.extend(self._process(d, depth + 1))
        if depth == 0 and self.stateful:
            self._since_gc += 1
            if self._since_gc >= GC_EVERY:
                self.collect_garbage(forwarded=False)
        return alerts

    def observe_forward(self, fwd: Forward) -> list[Alert]:
        """Where a forwarded rule's key lives: observe the event under that key. Forwards
        of a rule that is gone (a reload removed it, or keys it by agent now) are dropped."""
        return self.observe_forwards((fwd,))

    def observe_forwards(self, forwards: Iterable[Forward]) -> list[Alert]:
        """`observe_forward` for each forward in turn (the file scan releases them an
        event's worth at a time): the lookups are made once, not once per forward, and a
        rule's consecutive forwards of one event (its keys on one partition: up to ten
        LSH buckets of a near-duplicate text) go to the detector in one `observe_keys`
        call, which prepares the event once. They share their evidence: stage 1 gives
        every key of a rule's match the same list."""
        alerts: list[Alert] = []
        index_of, forwarded, rules = self._index_of, self._forwarded, self.rules
        rule_time, state_of, clock = self._pending_rule_time, self.state.for_rule, time.perf_counter
        fwds = forwards if isinstance(forwards, (list, tuple)) else list(forwards)
        n = len(fwds)
        t0 = clock()
        i = 0
        while i < n:
            fwd = fwds[i]
            rule_id, event = fwd.rule_id, fwd.event
            j = i + 1
            while j < n and fwds[j].event is event and fwds[j].rule_id == rule_id:
                j += 1
            keys = [fwd.key] if j == i + 1 else [f.key for f in fwds[i:j]]
            i = j
            idx = index_of.get(rule_id)
            if idx is None or not forwarded[idx]:
                continue
            rule = rules[idx]
            ts = event.epoch
            if ts > self.forward_watermark:
                self.forward_watermark = ts
            try:
                findings = rule.detector.observe_keys(event, fwd.evidence, state_of(rule_id), keys)  # type: ignore[attr-defined]
            except RegexTimeout as exc:  # a detector's own condition (a sequence step): no match
                self._regex_timed_out(rule, exc, event)
                findings = []
            if findings:
                alerts.extend([self._alert(rule, f) for f in findings])
            t1 = clock()  # one clock read per rule and event: the end of this one starts the next
            rule_time[idx] += t1 - t0
            t0 = t1
            self._since_forward_gc += len(keys)
            if self._since_forward_gc >= GC_EVERY:
                self.collect_garbage(local=False)
                t0 = clock()
        return alerts

    def _regex_timed_out(self, rule: CompiledRule, exc: RegexTimeout, event: Event) -> None:
        """A match past its time budget (retried once with a larger one) counts as no
        match: counted and logged, never an error for the event or the other rules."""
        log.warning("rule %s: regex %r timed out on event %s", rule.id, str(exc), event.event_id)
        self.regex_timeouts += 1
        if self.metrics:
            self.metrics.rule_errors.labels(rule.id, "regex_timeout").inc()

    def collect_garbage(self, *, local: bool = True, forwarded: bool = True) -> int:
        """Expire stateful state: rules run in place against the event time seen here,
        forwarded rules against the event time they have observed (which trails it)."""
        removed = 0
        if local:
            self._since_gc = 0
        if forwarded:
            self._since_forward_gc = 0
        for rule in self.stateful:
            is_forwarded = rule.id in self.forwarded_ids
            if (local and not is_forwarded) or (forwarded and is_forwarded):
                state = self.state.for_rule(rule.id)
                if is_forwarded:
                    low = self.forward_low_watermark
                    mark = self.forward_watermark if low is None else min(low, self.forward_watermark)
                else:
                    mark = self.watermark if self.low_watermark is None else self.low_watermark
                removed += rule.detector.garbage_collect(mark, state)
                if self.metrics:
                    self.metrics.state_keys.labels(rule.id).set(len(state))
        return removed

    def _alert(self, rule: CompiledRule, f: Finding) -> Alert:
        severity = f.severity or rule.severity
        context = {  # the names are `summary.CONTEXT_NAMES`, which the loader checks templates against
            "event": f.event,
            "rule": rule.meta(),
            "evidence": f.evidence,
            "finding": {"count": f.count, "agent_ids": f.agent_ids, "event_ids": f.event_ids,
                        "first_ts": iso(f.first_ts), "last_ts": iso(f.last_ts)},
        }
        summary, error = rule.summary.render(context)
        if error:
            self.template_errors[rule.id] = error
            if self.metrics:
                self.metrics.rule_errors.labels(rule.id, "template_error").inc()
        if self.metrics:
            self.metrics.match(rule.id, rule.pack, rule.category, severity)
        fp = fingerprint_of(rule.id, f.key)
        evidence = dict(f.evidence)
        if "derived" in f.event.attrs:
            evidence["derived"] = f.event.attrs["derived"]
        # Summary and evidence quote agent text, which may hold a leaked key. Every
        # alert is built here, so redacting here keeps secrets out of the store, the
        # alerts topic and every notification (prefix + short hash stay visible).
        summary, evidence = redact(summary), redact_data(evidence)
        return Alert(
            alert_id=alert_id_of(fp, f.event_ids[0] if f.event_ids else f.key),
            fingerprint=fp, rule_id=rule.id, pack=rule.pack, pack_version=rule.pack_version,
            category=rule.category, severity=severity, title=rule.title, summary=summary,
            tags=list(rule.tags), event_ids=f.event_ids, agent_ids=f.agent_ids, count=f.count,
            first_ts=iso(f.first_ts), last_ts=iso(f.last_ts), evidence=evidence,
        )


def _predicates(rule: CompiledRule) -> list[Predicate]:
    out: list[Predicate] = []
    stack = [rule.condition] + ([rule.exception] if rule.exception is not None else [])
    while stack:
        node = stack.pop()
        if isinstance(node, Predicate):
            out.append(node)
        for attr in ("children",):
            stack.extend(getattr(node, attr, []))
        child = getattr(node, "child", None)
        if child is not None:
            stack.append(child)
    return out
