"""All flockwatch metrics in one place, with label children cached so the hot path
does a dict lookup and an add, not a label resolution per event."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

from flockwatch.ingest.event import EVENT_TYPES

# Event time -> alert stored. Replays of old data land in the top buckets, which is
# the truth: they were stored that long after they happened.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
# success: new rules running; unchanged: files equal the running rules; invalid: a pack
# failed to load (YAML, schema, regex, backtracking); tests_failed: an inline test failed;
# error: anything unexpected while reloading.
RELOAD_OUTCOMES = ("success", "unchanged", "invalid", "tests_failed", "error")
ENGINE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1)


def process_registry() -> CollectorRegistry:
    """A process's own registry, with prometheus-client's process collector on it:
    process_cpu_seconds_total, process_resident_memory_bytes, open fds, start time
    (Linux), what an SRE reads a process's memory and CPU per event from. Every
    flockwatch process (worker, scan, notifier, bridge) starts from one; a registry
    handed in instead (the global one) may have its own collector already."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry if registry is not None else process_registry()
        self.events = Counter("flockwatch_events", "Valid events processed, by event type.", ["type"], registry=r)
        for event_type in EVENT_TYPES:
            # Every type exists from the first scrape, at 0: a series born with its whole
            # first batch counted has no earlier sample, so increase() saw 0 events and
            # FlockwatchNoEventsProcessed fired on a worker that had just processed them.
            self.events.labels(event_type)
        self.invalid = Counter("flockwatch_invalid_events", "Events rejected at decoding, by reason.", ["reason"], registry=r)
        self.dead_letters = Counter(
            "flockwatch_dead_letters", "Records written to the dead-letter sink, by reason.", ["reason"], registry=r
        )
        self.matches = Counter(
            "flockwatch_rule_matches", "Rule findings, by rule, pack, category and severity.",
            ["rule", "pack", "category", "severity"], registry=r,
        )
        self.rule_errors = Counter(
            "flockwatch_rule_errors", "Rule evaluation errors (regex timeouts, template failures).",
            ["rule", "reason"], registry=r,
        )
        self.alerts_stored = Counter(
            "flockwatch_alerts_stored", "Alert versions written to the store.", ["category", "severity"], registry=r
        )
        self.latency = Histogram(
            "flockwatch_processing_latency_seconds", "Event time to alert stored.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.engine_seconds = Counter(
            "flockwatch_engine_seconds", "Time spent evaluating rules, by pack (prefilter counted as pack '_prefilter').",
            ["pack"], registry=r,
        )
        self.rule_seconds = Counter(
            "flockwatch_rule_engine_seconds", "Time spent evaluating each rule (condition, exceptions, detector).",
            ["rule", "pack"], registry=r,
        )
        self.engine_event = Histogram(
            "flockwatch_engine_event_seconds", "Engine time per event, all packs.", buckets=ENGINE_BUCKETS, registry=r
        )
        self.consumer_lag = Gauge(
            "flockwatch_consumer_lag", "Messages behind the partition's high watermark.", ["topic", "partition"], registry=r
        )
        self.active_incidents = Gauge(
            "flockwatch_active_incidents", "Incidents that grew within the last 15 minutes of event time.",
            ["category"], registry=r,
        )
        self.batch_seconds = Histogram(
            "flockwatch_worker_batch_seconds", "Worker batch wall time: evaluate, store, publish, changelog.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r,
        )
        self.store_retries = Counter(
            "flockwatch_store_retries", "Alert store writes that failed (database unreachable) and were retried.",
            registry=r,
        )
        self.store_up = Gauge(
            "flockwatch_store_up",
            "1 while the alert store answers; 0 from a failed store write or readiness check until one succeeds.",
            registry=r,
        )
        # 1 from the start: only the worker sets it (`worker/store_guard.py`), and a process
        # that never writes alerts (scan, the notifier) must not look like an outage.
        self.store_up.set(1)
        self.forwarded = Counter(
            "flockwatch_repartition_forwarded",
            "Matches of key-partitioned rules forwarded to the repartition topic (one per rule and key).",
            registry=r,
        )
        self.reorder_held = Gauge(
            "flockwatch_repartition_held",
            "Forwarded events held in the reorder buffer, waiting for every firehose partition's watermark.",
            registry=r,
        )
        self.forwards_late = Counter(
            "flockwatch_repartition_late",
            "Forwarded events that arrived below the event time already released (replays, or live "
            "disorder beyond the watermark); observed at once, out of order.",
            registry=r,
        )
        self.state_keys = Gauge("flockwatch_state_keys", "Live keys in stateful rule state.", ["rule"], registry=r)
        self.packs = Gauge(
            "flockwatch_rule_pack_info", "Loaded rule packs (value 1), with version and SHA-256.",
            ["pack", "version", "sha256"], registry=r,
        )
        self.rules_loaded = Gauge("flockwatch_rules_loaded", "Enabled rules loaded.", registry=r)
        # Rule reloads (SIGHUP or a changed pack file). `reload_success` starts at 1: the
        # rules a process starts with were validated, or it would not have started.
        self.reload_success = Gauge(
            "flockwatch_rules_reload_success",
            "1 if the last rule reload was applied (or none was tried), 0 if it was refused.", registry=r,
        )
        self.reload_success.set(1)
        self.reloads = Counter(
            "flockwatch_rules_reloads", "Rule reload attempts, by outcome.", ["outcome"], registry=r
        )
        for outcome in RELOAD_OUTCOMES:
            self.reloads.labels(outcome)  # every outcome exists from the start, at 0
        self.last_reload = Gauge(
            "flockwatch_rules_last_reload_timestamp_seconds", "Unix time of the last rule reload attempt.", registry=r
        )
        self.rules_loaded_at = Gauge(
            "flockwatch_rules_loaded_timestamp_seconds", "Unix time the running rules were loaded.", registry=r
        )
        self.build = Info("flockwatch_build", "flockwatch version.", registry=r)
        self.notifications = Counter(
            "flockwatch_notifications",
            "Notification messages by receiver and outcome: queued (written to the outbox), delivered, "
            "failed (permanent error), expired (retry deadline passed), superseded (replaced by a newer "
            "message of the same group before it was sent).",
            ["receiver", "outcome"], registry=r,
        )
        self.notification_attempts = Counter(
            "flockwatch_notification_attempts", "HTTP delivery attempts by receiver and outcome (ok, retry, permanent).",
            ["receiver", "outcome"], registry=r,
        )
        self.notifications_suppressed = Counter(
            "flockwatch_notifications_suppressed",
            "Alert changes not sent, by reason (silenced, inhibited, dedup, acknowledged, resolved_not_sent, "
            "unknown_alert, unknown_receiver).",
            ["reason"], registry=r,
        )
        self.notification_template_errors = Counter(
            "flockwatch_notification_template_errors",
            "Messages whose receiver template failed; the plain fallback was sent instead.", ["receiver"], registry=r,
        )
        self.notification_request = Histogram(
            "flockwatch_notification_request_seconds", "Duration of one HTTP delivery attempt.", ["receiver"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r,
        )
        self.notification_latency = Histogram(
            "flockwatch_notification_latency_seconds", "Message written to the outbox to delivered (retries included).",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.notify_enqueued = Counter(
            "flockwatch_notify_enqueued", "Alert changes handed to the notifier (rows in notify_inbox).", registry=r
        )
        self.notify_outbox_pending = Gauge(
            "flockwatch_notify_outbox_pending", "Messages waiting for delivery, by receiver.", ["receiver"], registry=r
        )
        self._match_children: dict[tuple[str, ...], Counter] = {}
        self._engine_children: dict[str, Counter] = {}
        self._rule_time_children: dict[tuple[str, str], Counter] = {}

    def match(self, rule: str, pack: str, category: str, severity: str) -> None:
        key = (rule, pack, category, severity)
        c = self._match_children.get(key)
        if c is None:
            c = self._match_children[key] = self.matches.labels(*key)
        c.inc()

    def rule_time(self, rule: str, pack: str, seconds: float) -> None:
        key = (rule, pack)
        c = self._rule_time_children.get(key)
        if c is None:
            c = self._rule_time_children[key] = self.rule_seconds.labels(rule, pack)
        c.inc(seconds)

    def engine_time(self, pack: str, seconds: float) -> None:
        c = self._engine_children.get(pack)
        if c is None:
            c = self._engine_children[pack] = self.engine_seconds.labels(pack)
        c.inc(seconds)
