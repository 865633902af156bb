"""The admin web in a real browser (Playwright, Debian's Chromium) against `python main.py server`.

Logs in, reads the dashboard at desktop and phone widths, works an alert from new to resolved
(opening it from the link in its e-mail), reads the fleet page, and downloads every export format,
checking what each file holds. Screenshots go to $ADMIN_SCREENSHOTS when set.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests
from admin_helpers import PASSWORD, SmtpSink, make_admin, write_settings
from browser_helpers import CHROMIUM, chromium
from fhir.resources.R4B.bundle import Bundle
from server_helpers import ServerProcess, fft_record, post_visit_record

from kiosk.record import iso, utc_now
from sync.server.auth import add_kiosk, revoke_kiosk
from sync.server.db import make_engine

pytest_plugins = ["server_fixtures", "admin_fixtures"]

INJECTION = '=HYPERLINK("https://evil.example","click")'
COMPLAINT = "Waited 90 minutes 😠 الانتظار كان طويلاً"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"), reason="Chromium is not installed"
)


def responses() -> list[dict[str, Any]]:
    """A month of feedback: mostly good, some bad ones that raise alerts, text worth exporting."""
    now = utc_now()
    records = []
    for n in range(40):
        moment = iso(now.replace(hour=10) - timedelta(days=n % 20, minutes=n))
        overall = ("very_good", "good", "very_good", "neither", "good", "dont_know", "very_good", "good")[
            n % 8
        ]
        why = {0: "Lovely staff", 3: INJECTION, 5: "护士非常友好"}.get(n % 8)
        answers = {"overall": overall, **({"why": why} if why else {})}
        records.append(fft_record("front-desk-1", answers=answers, submitted_at=moment, started_at=moment))
    bad = iso(now)
    records.append(
        fft_record(
            "front-desk-1",
            answers={"overall": "very_poor", "why": COMPLAINT},
            submitted_at=bad,
            started_at=bad,
        )
    )
    for n in range(6):
        records.append(post_visit_record("front-desk-1", n=n + 5, submitted_at=bad, started_at=bad))
    return records


@pytest.fixture
def site(tmp_path: Path, admin_db: str) -> Iterator[tuple[ServerProcess, SmtpSink, list[dict[str, Any]]]]:
    """A running server with an admin, a kiosk that has synced, and an SMTP sink for its e-mail.

    Accounts are made in this process (the command line has its own tests), then the server
    starts as a real child process reading its settings.json.
    """
    engine = make_engine(admin_db)
    with engine.begin() as connection:
        add_kiosk(connection, "front-desk-1", "north")
        add_kiosk(connection, "hall", "south")
        revoke_kiosk(connection, "hall")
        token = add_kiosk(connection, "front-desk-2", "north")
    make_admin(engine)
    engine.dispose()
    with SmtpSink() as sink:
        data = tmp_path / "data"
        server = ServerProcess(data, database=admin_db)
        write_settings(data, public_url=server.url, **sink.settings())
        server.start()
        try:
            records = [{**r, "kiosk_id": "front-desk-2"} for r in responses()]
            health = {
                "app_version": "0.1.0",
                "pending": 0,
                "oldest_pending_age_s": None,
                "clock": iso(utc_now()),
            }
            sent = requests.post(
                f"{server.url}/api/v1/responses",
                json={"responses": records, "kiosk": health},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert {r["status"] for r in sent.json()["receipts"]} == {"created"}
            yield server, sink, records
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def shoot(page: Any, name: str) -> None:
    """A full-page screenshot into $ADMIN_SCREENSHOTS, for a person to look at; skipped otherwise."""
    folder = os.environ.get("ADMIN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def fits_the_screen(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_an_admin_reads_the_dashboard_works_an_alert_and_downloads_every_format(site, browser, tmp_path):
    server, sink, records = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server.url}/admin/alerts")
    assert page.url.startswith(f"{server.url}/admin/login?next=")
    page.fill("#username", "alice")
    page.fill("#password", "not the password")
    page.click("button.primary")
    assert "Wrong username or password." in page.inner_text("main")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    assert page.url == f"{server.url}/admin/alerts"

    # The dashboard, on a desktop and on a phone.
    page.goto(f"{server.url}/admin/dashboard?survey=fft")
    cards = page.inner_text(".cards")
    assert "41" in cards and "positive" in cards and "negative" in cards
    assert page.locator(".chart [role=img]").count() >= 3
    assert page.locator(".chart svg").first.is_visible()
    assert "Lovely staff" in page.inner_text("ol.comments")
    shoot(page, "dashboard-desktop")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.add_cookies(context.cookies())
    small = phone.new_page()
    small.goto(f"{server.url}/admin/dashboard?survey=fft")
    assert fits_the_screen(small), "nothing wider than a phone's screen"
    assert small.locator(".chart svg").first.bounding_box()["width"] <= 390
    shoot(small, "dashboard-phone")
    small.goto(f"{server.url}/admin/alerts")
    assert fits_the_screen(small)
    shoot(small, "alerts-phone")
    phone.close()

    # The alert: from its e-mail to resolved.
    messages = sink.wait_for(1, timeout=20)
    fft_alert = next(m for m in messages if " fft at north" in m["Subject"])
    body = fft_alert.get_payload(decode=True).decode()
    assert COMPLAINT not in body and COMPLAINT not in fft_alert["Subject"]
    link = re.search(rf"{re.escape(server.url)}/admin/alerts/\d+", body).group(0)
    alert_id = link.rsplit("/", 1)[1]
    page.goto(f"{server.url}/admin/alerts")
    assert f"#{alert_id}" in page.inner_text("table.queue")
    shoot(page, "alerts")
    page.goto(link)
    assert COMPLAINT in page.inner_text("dl.answers") and "Very poor" in page.inner_text("dl.answers")
    page.select_option("select[name=owner]", "alice")
    page.select_option("select[name=status]", "contacted")
    page.fill("textarea[name=note]", "Phoned the practice manager's list; apologised")
    page.click("form.work button.primary")
    assert "Saved: status new → contacted; owner nobody → alice." in page.inner_text("main")
    page.select_option("select[name=status]", "resolved")
    page.click("form.work button.primary")
    assert "status contacted → resolved" in page.inner_text("ol.history")
    assert page.inner_text("h1 .tag") == "resolved"
    shoot(page, "alert-resolved")
    page.goto(f"{server.url}/admin/alerts")
    assert f"#{alert_id}" not in page.inner_text("main"), "a resolved alert leaves the open queue"
    page.goto(f"{server.url}/admin/alerts?status=resolved")
    assert f"#{alert_id}" in page.inner_text("main")

    # The fleet.
    page.goto(f"{server.url}/admin/fleet")
    fleet = page.inner_text("table.fleet")
    assert "front-desk-2" in fleet and "0.1.0" in fleet and "revoked" in fleet and "never" in fleet
    assert page.locator("tr.silent").count() == 0, "front-desk-1 never synced, but was enrolled just now"
    shoot(page, "fleet")

    # Every export format, downloaded and read back.
    expected = sorted(records, key=lambda r: (r["submitted_at"], r["id"]))
    files: dict[str, bytes] = {}
    for fmt in ("csv", "xlsx", "json", "jsonl", "fhir"):
        page.goto(f"{server.url}/admin/exports")
        page.check(f"input[name=format][value={fmt}]")
        with page.expect_download() as download:
            page.click("form.export button.primary")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        files[fmt] = saved.read_bytes()
    shoot(page, "exports")
    rows = list(csv.DictReader(io.StringIO(files["csv"].decode("utf-8-sig"), newline="")))
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    whys = {r["why"] for r in rows}
    assert "'" + INJECTION in whys and COMPLAINT in whys and "护士非常友好" in whys
    sheet = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))["responses"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row if c.value == INJECTION]
    assert header[:3] == ["id", "survey_id", "survey_version"] and len(cells) == 5
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert json.loads(files["json"]) == expected
    assert [json.loads(line) for line in files["jsonl"].decode().splitlines()] == expected
    bundle = Bundle.model_validate_json(files["fhir"])
    assert [e.resource.id for e in bundle.entry] == [r["id"] for r in expected]

    page.goto(f"{server.url}/admin/exports/download?format=json&until=2020-13-01")
    assert '"2020-13-01" is not a date' in page.inner_text("p.error")
    page.goto(f"{server.url}/admin/dashboard")
    page.click(".logout button")
    assert "You are logged out." in page.inner_text("main")
    page.goto(f"{server.url}/admin/fleet")
    assert "/admin/login" in page.url
    context.close()
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
