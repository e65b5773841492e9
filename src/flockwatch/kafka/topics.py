"""Topic names and topic creation.

The worker reads the firehose and writes two topics; their names are settings, these
are the defaults. Topics are created explicitly (not left to broker auto-creation) so
their partition counts are known: a stateful worker's table has exactly as many
partitions as the firehose.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

log = logging.getLogger(__name__)

EVENTS_TOPIC = "platform.events"
ALERTS_TOPIC = "flockwatch.alerts"
DEAD_LETTER_TOPIC = "flockwatch.deadletter"
DEFAULT_PARTITIONS = 4
CONNECT_TIMEOUT = 10.0  # seconds to reach the broker before a command gives up


class BrokerUnavailable(RuntimeError):
    """The Kafka bootstrap servers did not answer."""


def ensure_topics(bootstrap: str, topics: Mapping[str, int]) -> dict[str, int]:
    """Create missing topics (name -> partitions); return every topic's actual partition count.

    An existing topic keeps its partition count (returned, so callers can adapt to it)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="flockwatch-admin",
                                 bootstrap_timeout_ms=int(CONNECT_TIMEOUT * 1000))
    except (KafkaTimeoutError, KafkaConnectionError) as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap} within {CONNECT_TIMEOUT:.0f} s "
                                f"(is the broker running? --broker / FLOCKWATCH_BROKER)") from exc
    try:
        existing = partition_counts(admin, list(topics))
        missing = [NewTopic(name, num_partitions=n, replication_factor=1)
                   for name, n in topics.items() if name not in existing]
        for topic in missing:
            try:
                admin.create_topics([topic])
                log.info("created topic %s with %d partitions", topic.name, topic.num_partitions)
            except TopicAlreadyExistsError:
                pass  # another process won the race; its count is read below
        return {**existing, **partition_counts(admin, [t.name for t in missing])}
    finally:
        admin.close()


def partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    out: dict[str, int] = {}
    for meta in admin.describe_topics(names):
        if meta.get("error_code", 0) == 0 and meta.get("partitions"):
            out[meta.get("name") or meta.get("topic")] = len(meta["partitions"])
    return out
