"""The fleet page's rows: each kiosk's health as it last reported it, and which ones went quiet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from sync.server.admin.accounts import as_utc
from sync.server.models import Kiosk

DRIFT_WARNING_S = 120.0


@dataclass(frozen=True, slots=True)
class KioskHealth:
    id: str
    site: str
    revoked: bool
    created_at: datetime
    last_seen_at: datetime | None
    pending: int | None
    oldest_pending_age_s: float | None
    app_version: str | None
    clock_drift_s: float | None
    silent: bool

    @property
    def drift_warning(self) -> bool:
        return self.clock_drift_s is not None and abs(self.clock_drift_s) > DRIFT_WARNING_S


def fleet(connection: Connection, now: datetime, silent_after: timedelta) -> list[KioskHealth]:
    """Every kiosk, by site and name. An active kiosk is silent when it has not synced for longer
    than `silent_after` (one never heard from counts from its enrollment); a revoked one never is."""
    rows = connection.execute(select(Kiosk).order_by(Kiosk.site, Kiosk.id))
    kiosks = []
    for k in rows:
        seen = as_utc(k.last_seen_at)
        created = as_utc(k.created_at)
        assert created is not None
        revoked = k.revoked_at is not None
        kiosks.append(
            KioskHealth(
                id=k.id,
                site=k.site,
                revoked=revoked,
                created_at=created,
                last_seen_at=seen,
                pending=k.pending,
                oldest_pending_age_s=k.oldest_pending_age_s,
                app_version=k.app_version,
                clock_drift_s=k.clock_drift_s,
                silent=not revoked and now - (seen or created) > silent_after,
            )
        )
    return kiosks


def duration(seconds: float | None) -> str:
    """A span as people say it: "45 s", "12 min", "3 h 20 min", "2 days 4 h"."""
    if seconds is None:
        return "—"
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"
