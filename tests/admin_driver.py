"""Drive the kiosk's admin screen in a real (offscreen) Kivy window, like tests/ui_driver.py does.

The app runs as `screens.app.run_kiosk` wires it: a real ResponseStore, the app's worker thread, a
`KioskAdmin` and a real `SyncClient` thread, which talks to a small loopback stand-in for the
server (this tests the screen, not the wire: tests/test_sync_*.py test the wire against the real
server). Every tap is a touch on the real widget. One JSON line of observations goes to stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# First: importing ui_driver sets Kivy up for an offscreen window, before Kivy itself is imported.
from ui_driver import Driver, FakeClock

# isort: split
from kivy.base import runTouchApp

from kiosk.admin import KioskAdmin
from kiosk.config import KioskConfig
from kiosk.controller import KioskController
from kiosk.speech import detect_speech
from kiosk.store import ResponseStore
from kiosk.survey import configured_survey
from screens.app import KioskApp, Worker
from screens.widgets import ChoiceButton, KioskButton
from sync.client import SyncClient
from sync.protocol import RESPONSES_PATH, SURVEYS_PATH


class StandInServer:
    """Answers the kiosk's two API calls on 127.0.0.1: receipts for every record, one survey."""

    def __init__(self, survey: dict[str, Any]) -> None:
        self.up = False
        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", '"v1"')
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not outer.up:
                    self._answer(503, {"detail": "down for maintenance"})
                    return
                ids = [r["id"] for r in body["responses"]]
                outer.received.extend(ids)
                self._answer(200, {"receipts": [{"id": i, "status": "created", "detail": ""} for i in ids]})

            def do_GET(self) -> None:
                assert self.path == SURVEYS_PATH
                self._answer(200, {"surveys": [survey]})

        assert RESPONSES_PATH.startswith("/api/")
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class AdminDriver(Driver):
    """The ui_driver's Driver, with the admin desk and the uploader that `run_kiosk` adds."""

    def __init__(self, data_dir: Path, shots: Path | None, server: StandInServer) -> None:
        self.data_dir = data_dir
        self.shots = shots
        self.server = server
        self.config = KioskConfig.load(data_dir)
        self.config.server_url = server.url
        self.survey = configured_survey(self.config.survey, data_dir)
        self.store = ResponseStore(data_dir)
        self.clock = FakeClock()
        self.worker = Worker()
        # A failed pass is retried only when asked: "Sync now" is what this test watches.
        self.sync = SyncClient(
            self.store, self.config, data_dir=data_dir, interval_s=3600, backoff_base_s=3600
        )
        self.sync.start()
        self.admin = KioskAdmin(self.config, data_dir, self.store, sync=self.sync)
        self.controller = KioskController(
            self.survey,
            self.config,
            self.store,
            clock=self.clock,
            background=self.worker,
            updated_survey=self.sync.surveys.get,
            admin=self.admin,
        )
        self.app = KioskApp(self.controller, speech=detect_speech(), transitions=False)
        self.app._run_prepare()
        runTouchApp(embedded=True)
        self.screens_seen: list[tuple[str, int]] = []
        self.pump(3)

    def close(self) -> None:
        self.admin.close()
        self.sync.stop()
        super().close()

    @property
    def admin_screen(self) -> Any:
        return self.app.screens["admin"]

    def panel(self, name: str) -> Any:
        return self.admin_screen.panels[name]

    def check(self, where: str, problems: list[str]) -> None:
        self.shot(where)
        problems.extend(self.layout_problems(where))


def scenario_admin(d: AdminDriver, p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    problems: list[str] = []
    d.until(lambda: d.sync.status.last_attempt is not None)
    d.hold_corner()
    d.enter_pin("2468")
    d.until(lambda: d.c.admin_status is not None)
    screen = d.admin_screen
    d.until(lambda: "503" in screen.last_error)
    out["home"] = [screen.today, screen.stored, screen.pending, screen.sync, screen.last_error]
    d.check("admin-home", problems)

    # Sync now: the server is back; the figures follow the uploader's snapshots.
    d.server.up = True
    d.tap(d.button(d.t("Sync now")))
    d.until(lambda: screen.pending.startswith("Waiting to sync: 0") and "none" in screen.last_error)
    out["after_sync"] = [screen.pending, screen.sync, screen.last_error]
    out["server_received"] = len(set(d.server.received))
    d.check("admin-synced", problems)

    # Export, to the folder given in config.json (standing in for a USB stick), in each format.
    d.tap(d.button(d.t("Export responses")))
    export = d.panel("export")
    d.until(lambda: len(export.ids.targets.children) >= 2)
    out["targets"] = [b.text for b in reversed(export.ids.targets.children)]
    d.check("admin-export", problems)
    out["exports"] = {}
    for fmt in ("xlsx", "json", "csv"):
        d.tap(d.find(ChoiceButton, value=fmt))
        target = next(b for b in export.ids.targets.children if str(b.target.path) == p["usb"])
        if fmt == "csv":  # a stick that stalls after two records: the screen stays live, exit waits
            release = stall_after(d.store, 2)
        d.tap(target)
        if fmt == "csv":
            d.until(lambda: export.status.endswith(" 2 of 5"))
            out["progress"] = export.status
            d.tap(d.button(d.t("Back")))
            out["while_exporting"] = {
                "exit_disabled": screen.ids.exit.disabled,
                "escape_allowed": d.c.allows_exit,
                "notice": screen.notice,
            }
            d.wait(200)  # the admin screen does not time out under an export
            out["while_exporting"]["phase_after_200_s"] = d.c.phase
            d.shot("admin-home-exporting")
            d.tap(d.button(d.t("Export responses")))
            release.set()
        d.until(lambda: export.status.startswith(("Exported", "Export failed")), timeout=20)
        out["exports"][fmt] = export.status
    d.check("admin-export-done", problems)
    d.tap(d.button(d.t("Back")))
    out["exit_enabled_after"] = not screen.ids.exit.disabled

    # Switch survey: the built-in ones and the one the server published.
    d.tap(d.button(d.t("Switch survey")))
    surveys = d.panel("survey")
    d.until(lambda: len(surveys.ids.surveys.children) >= 3)
    out["surveys"] = [(b.value, b.selected) for b in reversed(surveys.ids.surveys.children)]
    d.check("admin-survey", problems)
    d.tap(d.find(ChoiceButton, value="fft"))
    d.until(lambda: d.c.survey.id == "fft")
    out["after_fft"] = [KioskConfig.load(d.data_dir).survey, surveys.status]
    d.tap(d.find(ChoiceButton, value=p["server_survey"]))
    d.until(lambda: d.c.survey.id == p["server_survey"])
    out["after_server_survey"] = [KioskConfig.load(d.data_dir).survey, surveys.status]
    d.check("admin-survey-switched", problems)
    d.tap(d.button(d.t("Back")))

    # Change the PIN: twice, 4 to 8 digits.
    d.tap(d.button(d.t("Change PIN")))
    pin = d.panel("pin")
    d.check("admin-pin", problems)
    messages = []
    for first, again in (("12", None), ("1234", "1299"), ("13579", "13579")):
        enter_new_pin(d, first)
        if again is None:
            messages.append(pin.message)
            continue
        messages.append(pin.instruction)
        if again == "13579":
            d.shot("admin-pin-again")
        enter_new_pin(d, again)
        messages.append(pin.message)
    d.until(lambda: d.admin.panel == "home")
    out["pin_messages"] = messages
    out["pin_notice"] = screen.notice
    out["pin_saved"] = KioskConfig.load(d.data_dir).check_pin("13579")
    d.check("admin-pin-changed", problems)

    # Back to the survey: the server's survey is the one patients see; the new PIN opens the screen.
    d.tap(d.button(d.t("Back to the survey")))
    out["welcome_survey"] = [d.c.phase, d.c.survey.id]
    d.hold_corner()
    d.enter_pin("2468")
    out["old_pin_refused"] = d.c.phase != "admin"
    d.enter_pin("13579")
    d.until(lambda: d.c.admin_status is not None)
    out["new_pin_phase"] = d.c.phase
    d.tap(d.button(d.t("Exit kiosk")))
    out["exit_requested"] = d.c.exit_requested
    out["problems"] = problems
    return out


def scenario_layout(d: AdminDriver, p: dict[str, Any]) -> dict[str, Any]:
    """Every admin panel in Spanish, larger text and high contrast: nothing small, clipped or off-screen."""
    problems: list[str] = []
    d.choose_language(p["language"])
    d.hold_corner()
    d.enter_pin("2468")
    d.until(lambda: d.c.admin_status is not None)
    screen = d.admin_screen
    d.until(lambda: "503" in screen.last_error)
    home = [screen.today, screen.stored, screen.pending, screen.sync, screen.last_error]
    d.check("admin-home", problems)
    d.tap(d.button(d.t("Export responses")))
    d.until(lambda: len(d.panel("export").ids.targets.children) >= 2)
    d.check("admin-export", problems)
    d.tap(d.find(ChoiceButton, value="json"))
    d.tap(d.panel("export").ids.targets.children[0])
    d.until(lambda: d.admin.export is not None and str(d.admin.export.path) in d.panel("export").status)
    d.check("admin-export-done", problems)
    d.tap(d.button(d.t("Back")))
    d.tap(d.button(d.t("Switch survey")))
    d.until(lambda: len(d.panel("survey").ids.surveys.children) == 2)  # the server was never reached
    d.check("admin-survey", problems)
    d.tap(d.button(d.t("Back")))
    d.tap(d.button(d.t("Change PIN")))
    enter_new_pin(d, "12")
    for digit in "357":
        d.tap(next(k for k in d.panel("pin").ids.keypad.children if k.text == digit))
    d.check("admin-pin", problems)
    return {
        "home": home,
        "export_status": d.panel("export").status,
        "theme": d.app.theme.name,
        "font_scale": d.app.font_scale,
        "problems": problems,
    }


def enter_new_pin(d: AdminDriver, pin: str) -> None:
    keypad = d.panel("pin").ids.keypad
    for digit in pin:
        d.tap(next(k for k in keypad.children if isinstance(k, KioskButton) and k.text == digit))
    d.tap(d.panel("pin").ids.ok)
    d.until(lambda: d.admin.pin.stage != "saving")


def stall_after(store: ResponseStore, n: int) -> threading.Event:
    """Reading the store stalls after `n` records until the event is set, as on a slow card."""
    read = store.iter_records
    release = threading.Event()

    def stalling(*args: Any, **kwargs: Any) -> Any:
        for index, record in enumerate(read(*args, **kwargs)):
            if index == n:
                release.wait(30)
            yield record

    store.iter_records = stalling  # type: ignore[method-assign]
    return release


def main() -> None:
    params = json.loads(sys.argv[1])
    shots = Path(params["shots"]) if params.get("shots") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    driver = AdminDriver(Path(params["data_dir"]), shots, StandInServer(params["published"]))
    try:
        result = {"admin": scenario_admin, "layout": scenario_layout}[params["scenario"]](driver, params)
    finally:
        driver.close()
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
    os._exit(0)  # no Kivy teardown: the window dies with the process


if __name__ == "__main__":
    main()
