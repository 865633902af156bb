"""A one-line progress bar on stderr for exports that take a while; no package needed.

It appears only after a second, so quick exports stay quiet, and only on a terminal (or when
forced), so logs and pipes never fill with carriage returns.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

FORCE_ENV = "KIOSK_PROGRESS"
WIDTH = 30


def wanted(stream: TextIO, forced: bool = False) -> bool:
    """On a terminal, or when asked for by --progress or KIOSK_PROGRESS=1 (tests, CI logs)."""
    if forced or os.environ.get(FORCE_ENV, "") not in ("", "0"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """Call `update(done)` now and then (it is cheap) and `finish(done)` at the end."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.delay = delay
        self._clock = clock
        self._start = clock()
        self._drawn_at: float | None = None

    @property
    def shown(self) -> bool:
        return self._drawn_at is not None

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if now - self._start < self.delay:
            return
        if self._drawn_at is None or now - self._drawn_at >= 0.2:
            self._draw(done, now)

    def finish(self, done: int) -> None:
        """Draw the final state and end the line, but only if the bar was showing."""
        if self._drawn_at is not None:
            self._draw(done, self._clock())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, done: int, now: float) -> None:
        self._drawn_at = now
        elapsed = f"{now - self._start:5.1f} s"
        if self.total and done <= self.total:
            share = min(done / self.total, 1.0)
            bar = "#" * int(share * WIDTH)
            line = f"{self.label} [{bar:<{WIDTH}}] {share:4.0%} {done:,}/{self.total:,} {elapsed}"
        else:
            line = f"{self.label} {done:,} responses {elapsed}"
        self.stream.write("\r" + line)
        self.stream.flush()
