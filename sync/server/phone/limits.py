"""Per-address rate limits of the public pages: the phone links and the poster surveys.

These pages need no login, so the limits are what stands between them and a script: guessing
tokens, replaying a link, or stuffing a poster survey with answers. They count per process, like
the kiosk login limiter (sync/server/auth.py); with several workers an address gets each allowance
once per worker. The client address honours the server's trusted-proxy setting, because the
proxy middleware has already replaced it when the request comes from a trusted proxy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

MAX_TRACKED_ADDRESSES = 10_000


@dataclass(frozen=True, slots=True)
class PhoneLimits:
    """Allowances per address and window. A clinic's guest Wi-Fi puts many patients behind one
    address, so the page limit is generous; starting and submitting poster surveys are not."""

    pages: int = 300
    pages_window_s: float = 60.0
    bad_links: int = 20
    bad_links_window_s: float = 600.0
    poster_starts: int = 20
    poster_starts_window_s: float = 600.0
    poster_submits: int = 10
    poster_submits_window_s: float = 600.0


DEFAULT_LIMITS = PhoneLimits()


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
            recent = self._recent(address)
            if len(recent) < self.allowed:
                return None
            return max(1, int(recent[0] + self.window_s - self._clock()) + 1)

    def take(self, address: str) -> int | None:
        """Count one event if allowed; otherwise return the seconds to wait and count nothing."""
        with self._lock:
            recent = self._recent(address)
            if len(recent) >= self.allowed:
                return max(1, int(recent[0] + self.window_s - self._clock()) + 1)
            if len(self._events) >= MAX_TRACKED_ADDRESSES:
                for key in list(self._events):
                    self._recent(key)
            self._events[address] = [*recent, self._clock()]
            return None

    def _recent(self, address: str) -> list[float]:
        horizon = self._clock() - self.window_s
        times = [t for t in self._events.get(address, ()) if t > horizon]
        if times:
            self._events[address] = times
        else:
            self._events.pop(address, None)
        return times


class Limiters:
    def __init__(self, limits: PhoneLimits) -> None:
        self.pages = RateLimiter(limits.pages, limits.pages_window_s)
        self.bad_links = RateLimiter(limits.bad_links, limits.bad_links_window_s)
        self.poster_starts = RateLimiter(limits.poster_starts, limits.poster_starts_window_s)
        self.poster_submits = RateLimiter(limits.poster_submits, limits.poster_submits_window_s)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
