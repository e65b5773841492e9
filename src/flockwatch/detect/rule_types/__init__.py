"""Built-in rule types, one per module. Importing this package registers them all."""

from flockwatch.detect.rule_types import (  # noqa: F401
    cipher,
    classifier,
    cue_score,
    echo_chain,
    first_seen,
    match,
    near_duplicate,
    ping_pong,
    propagation,
    reply_cycle,
    seed_phrase,
    sequence,
    spike,
    threshold,
)
