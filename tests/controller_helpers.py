"""Shared by the tests that drive `KioskController` without a window: the stand-ins it is given
for its clock, its response store and its background worker.
"""

from __future__ import annotations

from typing import Any

from kiosk.store import StoreError


class Clock:
    """Kiosk time moves only when the test says so: every timeout is exact, none is waited for."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore:
    """Records what was saved; `fail` makes the next saves raise like a full disk would."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail: str | None = None

    def save(self, record: dict[str, Any]) -> None:
        if self.fail:
            raise StoreError(self.fail)
        if all(r["id"] != record["id"] for r in self.records):
            self.records.append(record)

    def count(self) -> int:
        return len(self.records)

    def pending_count(self) -> int:
        return len(self.records)

    def status(self) -> dict[str, Any]:
        return {"last_error": None}


class Deferred:
    """A background that runs jobs only when told: the UI between "save started" and "save returned"."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, Any]] = []

    def __call__(self, job: Any, done: Any) -> None:
        self.jobs.append((job, done))

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job, done in jobs:
            done(job())
