"""Per-address rate limits of the public pages: the phone links and the poster surveys.

These pages need no login, so the limits are what stands between them and a script: guessing
tokens, replaying a link, or stuffing a poster survey with answers. They use the kiosk login's
per-process limiter (sync/server/limits.py). The client address honours the server's trusted-proxy
setting, because the proxy middleware has already replaced it when the request comes from a
trusted proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from sync.server.limits import RateLimiter


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


class Limiters:
    def __init__(self, limits: PhoneLimits) -> None:
        self.pages = RateLimiter(limits.pages, limits.pages_window_s)
        self.bad_links = RateLimiter(limits.bad_links, limits.bad_links_window_s)
        self.poster_starts = RateLimiter(limits.poster_starts, limits.poster_starts_window_s)
        self.poster_submits = RateLimiter(limits.poster_submits, limits.poster_submits_window_s)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
