"""Client-side rate limit: at most `max_requests` in any `window` seconds.

A sliding window over the send times of the last `max_requests` requests (not a
token bucket), so the platform's documented "100 requests/min" holds for every
60-second span, bursts included. A 429 pauses everything until the platform's
retry time, not just the request that got it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, max_requests: int = 90, window: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep, stop: threading.Event | None = None):
        if max_requests < 1 or window <= 0:
            raise ValueError("rate limit needs max_requests >= 1 and window > 0")
        self.max_requests = max_requests
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._stop = stop  # set = give up waiting (the caller checks it and does not send)
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting (exported as a metric)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (a 429's retry-after)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                delay = self._paused_until - now
                if len(self._sent) >= self.max_requests:
                    delay = max(delay, self._sent[0] + self.window - now)
                if delay <= 0:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
                if self._stop is not None and self._stop.is_set():
                    return waited
                self._sleep(delay)
                waited += delay
