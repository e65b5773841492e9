"""The bridge's Prometheus metrics (`flockwatch_bridge_*`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from flockwatch.metrics.registry import process_registry


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry if registry is not None else process_registry()
        self.requests = Counter("flockwatch_bridge_requests", "API requests, by endpoint and outcome.",
                                ["endpoint", "outcome"], registry=r)
        self.retries = Counter("flockwatch_bridge_retries", "Requests retried, by cause.", ["cause"], registry=r)
        self.rate_limit_wait = Counter("flockwatch_bridge_rate_limit_wait_seconds",
                                       "Seconds spent waiting for the rate limit or a 429's retry-after.", registry=r)
        self.events = Counter("flockwatch_bridge_events", "Events produced, by type.", ["type"], registry=r)
        self.dead_letters = Counter("flockwatch_bridge_dead_letters", "Objects dead-lettered, by reason.",
                                    ["reason"], registry=r)
        self.recovered = Counter("flockwatch_bridge_recovered_events",
                                 "Events of an interrupted batch found already produced at restart.", registry=r)
        self.gaps = Counter("flockwatch_bridge_walk_gaps",
                            "Post walks stopped by --max-pages before reaching the cursor (posts may be missed).",
                            registry=r)
        self.future_posts = Counter("flockwatch_bridge_future_posts",
                                    "Posts dated more than the clock-skew allowance ahead of the bridge's clock "
                                    "(emitted, but not used for the walk's cursor).", registry=r)
        self.tracked = Gauge("flockwatch_bridge_tracked_posts", "Posts whose comment trees are re-polled.", registry=r)
        self.newest = Gauge("flockwatch_bridge_newest_post_timestamp_seconds",
                            "created_at of the newest post emitted.", registry=r)
        self.last_cycle = Gauge("flockwatch_bridge_last_cycle_timestamp_seconds",
                                "Wall-clock end of the last complete poll cycle.", registry=r)
