"""Per-address sliding-window limits, shared by the kiosk login and the public phone pages.

They count per process: with several workers an address gets each allowance once per worker,
which still turns a token search or a scripted flood into a crawl.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_TRACKED_ADDRESSES = 10_000


class RateLimiter:
    """A sliding window of events per address; past `allowed`, the address waits."""

    def __init__(self, allowed: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait(self, address: str) -> int | None:
        """Seconds until `address` may act again, or None when it may act now."""
        with self._lock:
            return self._wait(self._recent(address))

    def take(self, address: str) -> int | None:
        """Count one event if allowed; otherwise return the seconds to wait and count nothing."""
        with self._lock:
            wait = self._wait(self._recent(address))
            if wait is None:
                self._add(address)
            return wait

    def record(self, address: str) -> None:
        """Count one event whatever the allowance: a failed login counts even when it was let through."""
        with self._lock:
            self._add(address)

    def _wait(self, recent: list[float]) -> int | None:
        if len(recent) < self.allowed:
            return None
        return max(1, int(recent[0] + self.window_s - self._clock()) + 1)

    def _add(self, address: str) -> None:
        if len(self._events) >= MAX_TRACKED_ADDRESSES:
            for key in list(self._events):
                self._recent(key)
        self._events[address] = [*self._recent(address), self._clock()]

    def _recent(self, address: str) -> list[float]:
        horizon = self._clock() - self.window_s
        times = [t for t in self._events.get(address, ()) if t > horizon]
        if times:
            self._events[address] = times
        else:
            self._events.pop(address, None)
        return times
