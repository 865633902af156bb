"""The fleet page: each kiosk's last sync, pending count and age, version, clock drift, state; the
silent ones stand out. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta

from admin_helpers import login, make_admin
from fastapi.testclient import TestClient
from server_helpers import ApiServer
from sqlalchemy import update

from kiosk.record import iso, utc_now
from sync.server.admin.fleet import duration
from sync.server.models import Kiosk

pytest_plugins = ["server_fixtures", "admin_fixtures"]


def row(html: str, kiosk: str) -> str:
    found = re.search(rf'<tr class="([^"]*)">\s*<th scope="row">{kiosk}</th>(.*?)</tr>', html, re.S)
    assert found is not None, kiosk
    return found.group(1) + found.group(2)


def test_silent_kiosks_stand_out_and_health_is_shown(admin_db, cheap_argon2):
    server = ApiServer(admin_db, fleet_silent_hours=24)
    make_admin(server.engine)
    tokens = {
        name: server.enroll(name, site=site)
        for name, site in [("desk-1", "north"), ("desk-2", "north"), ("hall", "south"), ("old", "south")]
    }
    client = TestClient(server.app)
    now = utc_now()
    health = {
        "app_version": "0.1.0",
        "pending": 12,
        "oldest_pending_age_s": 340.0,
        "clock": iso(now + timedelta(seconds=200)),
    }
    for name in ("desk-1", "desk-2"):
        sent = client.post(
            "/api/v1/responses",
            json={"responses": [], "kiosk": health},
            headers={"Authorization": f"Bearer {tokens[name]}"},
        )
        assert sent.status_code == 200
    long_ago = now - timedelta(hours=30)
    with server.engine.begin() as connection:
        connection.execute(update(Kiosk).where(Kiosk.id == "desk-2").values(last_seen_at=long_ago))
        connection.execute(update(Kiosk).where(Kiosk.id.in_(["hall", "old"])).values(created_at=long_ago))
        connection.execute(update(Kiosk).where(Kiosk.id == "old").values(revoked_at=now))
    login(client)
    html = client.get("/admin/fleet").text
    assert "2 kiosk(s) silent for more than 24 hours: desk-2, hall." in html
    fresh = row(html, "desk-1")
    assert "silent" not in fresh and ">active<" in fresh
    assert ">12<" in fresh and "5 min" in fresh and "0.1.0" in fresh
    assert re.search(r'class="bad">3 min ahead', fresh), "drift over 2 minutes is marked"
    quiet = row(html, "desk-2")
    assert quiet.startswith("silent") and ">silent<" in quiet and "(30 h ago)" in quiet
    assert row(html, "hall").startswith("silent") and "never" in row(html, "hall")
    gone = row(html, "old")
    assert "revoked" in gone and ">silent<" not in gone, "a revoked kiosk is not missed"
    server.close()
    lenient = ApiServer(admin_db, fleet_silent_hours=48)
    other = TestClient(lenient.app)
    login(other)
    assert "No active kiosk has been silent for more than 48 hours." in other.get("/admin/fleet").text
    lenient.close()


def test_durations_read_like_people_say_them():
    assert [duration(s) for s in (None, 42, 600, 7200, 7500, 3 * 86400, 3 * 86400 + 7200, -90)] == [
        "—",
        "42 s",
        "10 min",
        "2 h",
        "2 h 5 min",
        "3 days",
        "3 days 2 h",
        "1 min",
    ]
