"""The phone handoff end to end, with nothing simulated between the devices.

A real server process on loopback; a kiosk enrolled with it by `server add-kiosk` and `enroll`;
the real kiosk app in an offscreen window, where a patient answers in Spanish, types free text,
and taps "Continue on my phone". The QR code is read back from the screenshot with zxing-cpp, and
a phone-sized headless Chromium opens it and answers the remaining questions. The kiosk syncs with
`main.py sync`, and `main.py server export --format json` shows one merged response (the commands
run through main.py's own entry point in the test's process, sparing an interpreter start each).

Two runs: the kiosk online (its record reaches the server before the phone's answers), and the
kiosk offline until after the phone has submitted. Both must give the same response: the one in
MERGED, with only the ids and the times differing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import CHROMIUM, chromium
from handoff_helpers import run_handoff_driver, scan, stored
from server_helpers import ServerProcess, run_main

from kiosk.flow import DEFAULT_TOO_FAST_SECONDS
from kiosk.store import ResponseStore

pytestmark = pytest.mark.ui

PHONE = {"width": 390, "height": 844}
KIOSK_ANSWERS = {
    "overall": 2,
    "front_desk": "somewhat",
    "wait": "over_30",
    "recommend": 9,
    "improve": "Más sillas, por favor",
}
PHONE_DETAILS = "Llámenme al 555 0101"
MERGED = {
    "survey_id": "post-visit",
    "survey_version": 1,
    "channel": "kiosk+phone",
    "status": "completed",
    "language": "es",
    "answers": {**KIOSK_ANSWERS, "contact_ok": True, "contact_details": PHONE_DETAILS},
}
VARIES = ("id", "kiosk_id", "started_at", "submitted_at")


def needed(module: str) -> Any:
    """A browser-test tool: in CI its absence fails the test; on a developer's machine it skips."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed (CI is set, so this test must run)")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("handoff-server")).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    needed("playwright.sync_api")
    needed("zxingcpp")
    if not Path(CHROMIUM).is_file():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    with chromium() as launched:
        yield launched


def main_py(*args: str) -> str:
    """`python main.py ARGS`, run in this process to spare an interpreter start; returns its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_main(*args)
    assert code == 0, f"main.py {args[0]}: exit {code}: {out.getvalue()}{err.getvalue()}"
    return out.getvalue()


def enrolled_kiosk(server: ServerProcess, name: str, folder: Path) -> Path:
    """A kiosk data folder enrolled the way an admin does it: `server add-kiosk`, then `enroll`."""
    printed = main_py("server", "add-kiosk", name, "--url", server.url, "--data-dir", str(server.data_dir))
    enrollment = printed.strip().splitlines()[-1]
    data = folder / name
    main_py("enroll", enrollment, "--data-dir", str(data))
    return data


def hand_off_on_the_kiosk(data: Path, screenshot: Path) -> dict[str, Any]:
    """The patient answers in Spanish on the kiosk, types free text, and taps the phone button."""
    result = run_handoff_driver(
        "handoff",
        data,
        config={"survey": "post-visit"},
        language="es",
        answers=KIOSK_ANSWERS,
        handoff_at="contact_ok",
        finish="done",
        screenshot=str(screenshot),
    )
    assert result["phase_after"] == "welcome"
    return result


def finish_on_the_phone(browser: Any, url: str, started_at: str) -> None:
    """The patient's phone: opens the scanned link and answers what the kiosk did not ask.

    A person takes longer than a browser to read a survey: sent sooner than that after the survey
    began on the kiosk, the merged response would rightly be flagged as too fast.
    """
    human = datetime.fromisoformat(started_at).timestamp() + DEFAULT_TOO_FAST_SECONDS + 0.5
    context = browser.new_context(viewport=PHONE, locale="es-ES", is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(url)
        heading = page.locator("h1")
        assert heading.inner_text().strip() == "Termine su encuesta aquí"
        page.get_by_role("button", name="Continuar", exact=True).click()
        assert heading.inner_text().strip() == "¿Podemos comunicarnos con usted sobre sus respuestas?"
        page.get_by_role("radio", name="Sí", exact=True).check()
        page.get_by_role("button", name="Siguiente", exact=True).click()
        page.get_by_role("textbox").fill(PHONE_DETAILS)
        time.sleep(max(0.0, human - time.time()))
        page.get_by_role("button", name="Enviar mis respuestas", exact=True).click()
        assert heading.inner_text().strip() == "Gracias"
    finally:
        context.close()


def sync(data: Path) -> None:
    main_py("sync", "--data-dir", str(data))  # exit 0: nothing is left pending
    with ResponseStore(data) as store:
        assert store.pending() == []


def exported(server: ServerProcess, response_id: str, out: Path) -> dict[str, Any]:
    main_py("server", "export", "--format", "json", "-o", str(out), "--data-dir", str(server.data_dir))
    (record,) = [r for r in json.loads(out.read_text(encoding="utf-8")) if r["id"] == response_id]
    return record


def kiosk_record(data: Path) -> dict[str, Any]:
    (record,) = stored(data)
    assert (record["status"], record["answers"]) == ("handed_off", KIOSK_ANSWERS)
    return record


def scanned_url(png: Path, server: ServerProcess) -> str:
    code = scan(png)
    assert code.ec_level == "M" and code.quiet_zone_modules >= 4
    assert code.text.startswith(f"{server.url}/p/")
    return code.text


def without_what_varies(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in VARIES}


def test_kiosk_online_then_phone(server, browser, tmp_path: Path) -> None:
    data = enrolled_kiosk(server, "desk-online", tmp_path)
    png = tmp_path / "handoff.png"
    shown = hand_off_on_the_kiosk(data, png)
    record = kiosk_record(data)
    url = scanned_url(png, server)
    assert url == shown["url"]

    sync(data)  # online: the kiosk's half arrives first
    first = exported(server, record["id"], tmp_path / "before.json")
    assert (first["channel"], first["status"], first["answers"]) == ("kiosk", "handed_off", KIOSK_ANSWERS)

    finish_on_the_phone(browser, url, record["started_at"])
    merged = exported(server, record["id"], tmp_path / "after.json")
    assert without_what_varies(merged) == MERGED
    assert (merged["kiosk_id"], merged["started_at"]) == ("desk-online", record["started_at"])


def test_kiosk_offline_until_the_phone_has_submitted(server, browser, tmp_path: Path) -> None:
    data = enrolled_kiosk(server, "desk-offline", tmp_path)
    png = tmp_path / "handoff.png"
    hand_off_on_the_kiosk(data, png)
    record = kiosk_record(data)
    with ResponseStore(data) as store:
        assert [r["id"] for r in store.pending()] == [record["id"]], "the kiosk holds its half"

    finish_on_the_phone(browser, scanned_url(png, server), record["started_at"])
    phone_only = exported(server, record["id"], tmp_path / "before.json")
    assert (phone_only["channel"], phone_only["status"]) == ("kiosk+phone", "completed")
    assert "improve" not in phone_only["answers"], "the kiosk's words travel only in its own record"

    sync(data)  # back online: the kiosk's half meets the phone's
    merged = exported(server, record["id"], tmp_path / "after.json")
    assert without_what_varies(merged) == MERGED
    assert (merged["kiosk_id"], merged["started_at"]) == ("desk-offline", record["started_at"])
