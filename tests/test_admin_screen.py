"""The admin screen behind the PIN, on a real Kivy window (offscreen), driven by touches.

One scenario of tests/admin_driver.py runs in its own process: the counts, "Sync now" against a
loopback stand-in for the server, an export in each format to a folder standing in for a USB
stick (read back here), switching the survey, changing the PIN, and exiting.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import KioskConfig
from kiosk.record import iso, new_response_id, utc_now
from kiosk.store import ResponseStore
from kiosk.survey import builtin_survey

pytestmark = pytest.mark.ui

DRIVER = Path(__file__).with_name("admin_driver.py")
KIOSK_ID = "ui-admin"


def record(n: int) -> dict[str, Any]:
    now = iso(utc_now())
    answers: dict[str, Any] = {"overall": 1 + n % 5, "front_desk": "somewhat", "recommend": n}
    if n % 2:
        answers["improve"] = f"=Menos espera ñ {n}"  # formula-like and not ASCII: CSV must keep it as text
    return {
        "id": new_response_id(),
        "survey_id": "post-visit",
        "survey_version": 1,
        "kiosk_id": KIOSK_ID,
        "channel": "kiosk",
        "language": "es" if n % 2 else "en",
        "started_at": now,
        "submitted_at": now,
        "status": "completed",
        "answers": answers,
    }


def seed(data_dir: Path) -> list[dict[str, Any]]:
    """Two responses saved two days ago and three today."""
    records = [record(n) for n in range(5)]
    two_days_ago = time.time() - 2 * 86400
    with ResponseStore(data_dir, clock=lambda: two_days_ago) as store:
        for r in records[:2]:
            store.save(r)
    with ResponseStore(data_dir) as store:
        for r in records[2:]:
            store.save(r)
    return records


def published_survey() -> dict[str, Any]:
    survey = dict(builtin_survey("fft").raw)
    survey.pop("$schema", None)
    survey["id"] = "flu-clinic"
    survey["title"] = {"en": "Flu clinic", "es": "Clínica de la gripe"}
    return survey


def run_driver(scenario: str, data_dir: Path, usb: Path, **config: Any) -> dict[str, Any]:
    KioskConfig.from_dict(
        {
            "survey": "post-visit",
            "kiosk_id": KIOSK_ID,
            "server_url": "http://127.0.0.1:9",  # the driver points it at its stand-in server
            "token": f"{KIOSK_ID}.{'x' * 43}",
            "export_folders": [str(usb)],
            **config,
        }
    ).save(data_dir)
    shots = os.environ.get("KIOSK_UI_SHOTS")
    args = {
        "scenario": scenario,
        "data_dir": str(data_dir),
        "usb": str(usb),
        "published": published_survey(),
        "server_survey": "flu-clinic",
        "language": "es",
        "shots": shots and f"{shots}/admin-{scenario}",
    }
    done = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"LP_NUM_THREADS": "0", **os.environ},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"driver failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def test_admin_screen_counts_sync_export_survey_pin_and_exit(tmp_path: Path) -> None:
    data_dir, usb = tmp_path / "data", tmp_path / "usb"
    data_dir.mkdir()
    usb.mkdir()
    records = seed(data_dir)
    result = run_driver("admin", data_dir, usb)
    assert result["problems"] == []

    # Counts, and the uploader's state as its snapshots change.
    today, stored, pending, sync, last_error = result["home"]
    assert (today, stored, pending) == ("Responses today: 3", "Responses stored: 5", "Waiting to sync: 5")
    assert sync == "Sync: not yet"
    assert last_error == "Last error: the server answered HTTP 503"
    pending, sync, last_error = result["after_sync"]
    assert pending == "Waiting to sync: 0" and last_error == "Last error: none"
    assert re.fullmatch(r"Sync: last sent \d\d:\d\d", sync)
    assert result["server_received"] == 5

    # Export: the folder is offered as a button, and each file holds every record.
    assert any(text.startswith(f"Folder: usb\n{usb} · ") for text in result["targets"])
    assert result["targets"][-1].startswith(f"This kiosk's exports folder\n{data_dir / 'exports'}")
    day = datetime.now().astimezone().strftime("%Y-%m-%d")
    for fmt in ("csv", "xlsx", "json"):
        path = usb / f"feedback-{KIOSK_ID}-{day}.{fmt}"
        assert result["exports"][fmt] == f"Exported 5 responses to {path}"
        assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in usb.iterdir()) == [
        f"feedback-{KIOSK_ID}-{day}.{f}" for f in ("csv", "json", "xlsx")
    ]
    by_id = {r["id"]: r for r in records}
    with open(usb / f"feedback-{KIOSK_ID}-{day}.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["id"] for row in rows) == sorted(by_id)
    for row in rows:
        answers = by_id[row["id"]]["answers"]
        assert row["recommend"] == str(answers["recommend"])
        assert row["improve"] == ("'" + answers["improve"] if "improve" in answers else "")
    exported = json.loads((usb / f"feedback-{KIOSK_ID}-{day}.json").read_text(encoding="utf-8"))
    assert sorted(exported, key=lambda r: r["id"]) == sorted(records, key=lambda r: r["id"])
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(usb / f"feedback-{KIOSK_ID}-{day}.xlsx", read_only=True)["responses"]
    table = list(sheet.iter_rows(values_only=True))
    assert len(table) == 6 and sorted(row[0] for row in table[1:]) == sorted(by_id)

    # While an export is written the screen stays live, shows progress, and the kiosk cannot exit.
    assert result["progress"] == "Reading the responses… 2 of 5"
    assert result["while_exporting"] == {
        "exit_disabled": True,
        "escape_allowed": False,
        "notice": "An export is being written.",
        "phase_after_200_s": "admin",
    }
    assert result["exit_enabled_after"]

    # Switch survey: built-in ones and the server's; saved to config.json, shown from the next patient.
    assert result["surveys"] == [["fft", False], ["flu-clinic", False], ["post-visit", True]]
    assert result["after_fft"] == ["fft", "Saved. The next patient sees this survey."]
    assert result["after_server_survey"][0] == "surveys/flu-clinic-v1.json"
    kept = json.loads((data_dir / "surveys" / "flu-clinic-v1.json").read_text(encoding="utf-8"))
    assert kept == published_survey()
    assert result["welcome_survey"] == ["welcome", "flu-clinic"]

    # Change the PIN: twice, 4 to 8 digits; the old one no longer opens the screen.
    assert result["pin_messages"] == [
        "A PIN has 4 to 8 digits.",
        "Enter the new PIN again.",
        "The two PINs were not the same. Start again.",
        "Enter the new PIN again.",
        "",
    ]
    assert result["pin_notice"] == "The PIN is changed."
    assert result["pin_saved"] and not KioskConfig.load(data_dir).check_pin("2468")
    assert result["old_pin_refused"] and result["new_pin_phase"] == "admin"
    assert result["exit_requested"]
    # Nothing was lost or doubled along the way.
    with ResponseStore(data_dir) as store:
        assert store.count() == 5 and store.pending_count() == 0


def test_admin_panels_fit_in_spanish_with_larger_text_and_high_contrast(tmp_path: Path) -> None:
    data_dir, usb = tmp_path / "data", tmp_path / "usb"
    data_dir.mkdir()
    usb.mkdir()
    records = seed(data_dir)[2:]
    with ResponseStore(data_dir) as store:
        store.quarantine({records[0]["id"]: "rejected: survey post-visit v1 is not published"})
    result = run_driver("layout", data_dir, usb, large_text=True, high_contrast=True)
    assert (result["theme"], result["font_scale"]) == ("high_contrast", 1.3)
    assert result["problems"] == []
    assert result["home"][:3] == [
        "Respuestas de hoy: 3",
        "Respuestas guardadas: 5",
        "Pendientes de sincronizar: 4\nRechazadas por el servidor: 1",
    ]
    day = datetime.now().astimezone().strftime("%Y-%m-%d")
    exported = data_dir / "exports" / f"feedback-{KIOSK_ID}-{day}.json"
    assert result["export_status"] == f"Se han exportado 5 respuestas a {exported}"
    assert len(json.loads(exported.read_text(encoding="utf-8"))) == 5
