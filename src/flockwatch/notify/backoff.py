"""When to try a failed message again.

Exponential back-off with jitter (so a receiver coming back is not hit by every
waiting message in the same instant), Retry-After honoured as a floor, and a hard
deadline after which the message is given up as `expired` and counted.
"""

from __future__ import annotations

import random

from flockwatch.notify.config import RetryConfig


def retry_delay(attempts: int, cfg: RetryConfig, rng: random.Random) -> float:
    """Delay after the `attempts`-th failed try (1 = the first try failed)."""
    base = min(cfg.max, cfg.initial * cfg.factor ** max(0, attempts - 1))
    return max(0.0, base * (1.0 + rng.uniform(-cfg.jitter, cfg.jitter)))


def next_attempt_at(now: float, attempts: int, retry_after: float | None, cfg: RetryConfig,
                    rng: random.Random) -> float:
    if retry_after is not None:
        # Never earlier than the receiver asked; spread upwards so the waiting messages
        # of a rate-limited receiver do not all return at once.
        wait = min(retry_after, cfg.max_retry_after)
        return now + wait * (1.0 + rng.uniform(0.0, cfg.jitter)) + 0.001
    return now + retry_delay(attempts, cfg, rng)
