"""A per-client sliding-window rate limit for the web forms (in memory, one process)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class FormRateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key (a client IP).

    ``hit(key)`` records one attempt and returns 0 when it is allowed, else the whole
    number of seconds until the oldest attempt in the window expires (for Retry-After).
    Refused attempts are not recorded, so a client that waits is let in on time.
    Memory is bounded: at most ``max_keys`` clients are tracked; idle ones are pruned.
    """

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("a rate limit allows at least one request per window")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> int:
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1, math.ceil(hits[0] + self.window - now))
        hits.append(now)
        return 0

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:
            # every tracked client is active: forget the ones seen longest ago
            oldest = sorted(self._hits, key=lambda k: self._hits[k][-1])
            for key in oldest[: len(oldest) // 2 + 1]:
                del self._hits[key]
