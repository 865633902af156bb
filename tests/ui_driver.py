"""Drive the real kiosk app in a real (offscreen) Kivy window, with touches on the real widgets.

Kivy allows one window per process and pytest must not host its event loop, so each UI test runs
this script in a subprocess: `python tests/ui_driver.py '{"scenario": ..., "data_dir": ...}'`. It
prints one JSON line of observations; the test in tests/test_ui_kiosk.py asserts on them and on
the records the real ResponseStore left in the data folder. Time is a fake clock (the real one plus
an offset), so a 45-second idle timeout takes no real time; saves run on the app's real worker thread.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screens.boot import prepare_kivy  # noqa: E402

prepare_kivy(Path(tempfile.mkdtemp(prefix="kivy-ui-")), windowed=True, offscreen=True, max_fps=0)

from controller_helpers import Clock as FakeClock  # noqa: E402
from kivy.base import EventLoop, runTouchApp  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.input.motionevent import MotionEvent  # noqa: E402
from kivy.metrics import dp  # noqa: E402
from kivy.uix.behaviors import ButtonBehavior  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.scrollview import ScrollView  # noqa: E402
from kivy.uix.textinput import TextInput  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from kiosk.config import KioskConfig  # noqa: E402
from kiosk.controller import CORNER_HOLD_SECONDS, PIN_LOCK_SECONDS, KioskController  # noqa: E402
from kiosk.speech import detect_speech  # noqa: E402
from kiosk.store import ResponseStore  # noqa: E402
from kiosk.survey import configured_survey  # noqa: E402
from screens.app import KioskApp, Worker  # noqa: E402
from screens.keyboard import Key  # noqa: E402
from screens.widgets import ChoiceButton, KioskButton  # noqa: E402


class Touch(MotionEvent):
    def __init__(self, x: float, y: float) -> None:
        super().__init__("ui-driver", id(self), self._args(x, y), is_touch=True, type_id="touch")

    @staticmethod
    def _args(x: float, y: float) -> dict[str, float]:
        return {"x": x / Window.width, "y": y / Window.height}

    def depack(self, args: dict[str, float]) -> None:
        self.profile = ["pos"]
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)


class Driver:
    def __init__(self, data_dir: Path, shots: Path | None) -> None:
        self.data_dir = data_dir
        self.shots = shots
        self.config = KioskConfig.load(data_dir)
        self.survey = configured_survey(self.config.survey, data_dir)
        self.store = ResponseStore(data_dir)
        self.clock = FakeClock()
        self.worker = Worker()
        self.controller = KioskController(
            self.survey, self.config, self.store, clock=self.clock, background=self.worker
        )
        self.app = KioskApp(self.controller, speech=detect_speech(), transitions=False)
        self.app._run_prepare()
        runTouchApp(embedded=True)
        self.screens_seen: list[tuple[str, int]] = []
        self.app.manager.bind(current=lambda _m, name: self.screens_seen.append((name, self.store.count())))
        self.pump(3)

    @property
    def c(self) -> KioskController:
        return self.controller

    def close(self) -> None:
        self.worker.close()
        self.store.close()

    # -- frames and time -------------------------------------------------------------------------

    def pump(self, frames: int = 2) -> None:
        for _ in range(frames):
            EventLoop.idle()

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            EventLoop.idle()
            if condition():
                self.pump(2)
                return True
        return False

    def wait(self, seconds: float) -> None:
        """Let `seconds` of kiosk time pass, then let the clock tick through the app."""
        self.clock.advance(seconds)
        self.c.tick()
        self.pump(2)

    def shot(self, name: str) -> None:
        if self.shots is not None:
            self.pump(2)
            Path(Window.screenshot(name=str(self.shots / ".shot.png"))).replace(self.shots / f"{name}.png")

    # -- finding and touching widgets ------------------------------------------------------------

    def tree(self, root: Widget | None = None) -> Iterator[Widget]:
        """Depth first, topmost first: an overlay's buttons before those of the screen beneath it."""
        stack = list(reversed((root or Window).children))
        while stack:
            widget = stack.pop()
            yield widget
            stack.extend(reversed(widget.children))

    def everything(self) -> Iterator[Widget]:
        """The window's tree plus every built screen and overlay, shown or not."""
        seen: set[int] = set()
        roots: list[Any] = [Window, *self.app.screens.values(), *self.app.overlays.values()]
        for root in roots:
            for widget in [root, *self.tree(root)]:
                if id(widget) not in seen:
                    seen.add(id(widget))
                    yield widget

    def visible(self) -> Iterator[Widget]:
        for widget in self.tree():
            if _shown(widget):
                yield widget

    def find(self, kind: type, **attrs: Any) -> Widget:
        for widget in self.visible():
            if isinstance(widget, kind) and all(getattr(widget, k, None) == v for k, v in attrs.items()):
                return widget
        raise LookupError(f"no visible {kind.__name__} with {attrs} on {self.app.manager.current}")

    def tap(self, widget: Widget, hold: float = 0.0) -> None:
        x, y = widget.to_window(widget.x + widget.width / 2, widget.y + widget.height / 2)
        self.tap_at(x, y, hold)

    def tap_at(self, x: float, y: float, hold: float = 0.0) -> None:
        touch = Touch(x, y)
        EventLoop.post_dispatch_input("begin", touch)  # dispatched at once, like a real touch
        if hold:
            self.pump(1)
            self.wait(hold)
        EventLoop.post_dispatch_input("end", touch)
        self.pump(1)  # the layout settles and the next frame is drawn

    def button(self, text: str) -> Widget:
        for kind in (KioskButton, ChoiceButton):
            for widget in self.visible():
                if isinstance(widget, kind) and widget.text == text:
                    return widget
        raise LookupError(f"no visible button {text!r} on {self.app.manager.current}")

    def t(self, message: str) -> str:
        return self.c.texts(message)

    # -- patient actions -------------------------------------------------------------------------

    def choose_language(self, language: str) -> None:
        if language != self.c.language:
            self.tap(self.find(ChoiceButton, value=language))

    def start(self, language: str = "en") -> None:
        self.choose_language(language)
        self.tap(self.button(self.t("Start")))

    def type_text(self, text: str) -> None:
        """Type on the on-screen keyboard, switching layers and shift like a patient would."""
        for char in text:
            if char == " ":
                self.tap(self.find(Key, key="space"))
                continue
            key = self._key_for(char)
            if key is None and char.isupper():
                self.tap(self.find(Key, key="shift"))
                key = self._key_for(char.lower())
            if key is None:
                layer = self.find(Key, key="123") if self._has_key("123") else self.find(Key, key="abc")
                self.tap(layer)
                key = self._key_for(char) or self._key_for(char.lower())
                if key is None:
                    self.tap(self.find(Key, key="shift"))
                    key = self._key_for(char.lower())
            assert key is not None, f"no key for {char!r}"
            self.tap(key)

    def _has_key(self, name: str) -> bool:
        return any(isinstance(w, Key) and w.key == name for w in self.visible())

    def _key_for(self, char: str) -> Widget | None:
        return next((w for w in self.visible() if isinstance(w, Key) and w.key == char), None)

    def answer(self, value: Any) -> None:
        """Tap the widget for a value of the current question; text is typed; lists tap each option."""
        q = self.c.question_view.question
        if q.type == "text":
            self.type_text(value)
        elif isinstance(value, list):
            for item in value:
                self.tap(self.find(ChoiceButton, value=item))
        elif q.type == "rating":
            self.tap(self.find(ChoiceButton, value=str(value)))
        else:
            self.tap(self.find(ChoiceButton, value=value))

    def next(self) -> None:
        view = self.c.question_view
        self.tap(self.button(self.t("Finish") if view.is_last else self.t("Next")))

    def complete(
        self, answers: dict[str, Any], language: str, seconds_per_question: float = 2.0
    ) -> list[str]:
        """Answer the survey through the screens; returns the question ids in the order shown."""
        self.start(language)
        shown = []
        while self.c.question_view is not None:
            view = self.c.question_view
            shown.append(view.question.id)
            self.shot(f"{self.survey.id}-{language}-{len(shown)}-{view.question.id}")
            if view.question.id in answers:
                self.answer(answers[view.question.id])
            self.clock.advance(seconds_per_question)
            self.next()
        self.until(lambda: self.c.phase in ("thank_you", "save_failed"))
        self.shot(f"{self.survey.id}-{language}-end")
        return shown

    def hold_corner(self) -> None:
        self.tap_at(dp(20), Window.height - dp(20), hold=CORNER_HOLD_SECONDS)

    def enter_pin(self, pin: str) -> None:
        for digit in pin:
            self.tap(self.button(digit))
        self.tap(self.button(self.t("OK")))
        self.until(lambda: not self.c.pin_checking)

    # -- checks --------------------------------------------------------------------------------

    def layout_problems(self, where: str) -> list[str]:
        """Touch targets under 48 dp, texts that overflow their box, widgets off the screen."""
        problems = []
        if tuple(Window.clearcolor) != tuple(self.app.theme.background):
            problems.append(
                f"{where}: the window is cleared to {Window.clearcolor}, not the theme's background"
            )
        for widget in self.visible():
            name = f"{where}: {type(widget).__name__} {getattr(widget, 'text', '')!r}"
            if isinstance(widget, ButtonBehavior | TextInput) and (
                widget.width < dp(48) or widget.height < dp(48)
            ):
                problems.append(f"{name}: touch target {widget.width:.0f}x{widget.height:.0f} px")
            x, y = widget.to_window(widget.x, widget.y)
            if (
                widget.width > 0
                and widget.height > 0
                and (
                    x < -1
                    or y < -1
                    or x + widget.width > Window.width + 1
                    or y + widget.height > Window.height + 1
                )
            ):
                problems.append(
                    f"{name}: off the screen at {x:.0f},{y:.0f} {widget.width:.0f}x{widget.height:.0f}"
                )
            if isinstance(widget, ScrollView) and widget.height < dp(56):
                problems.append(f"{name}: a scrolling area {widget.height:.0f} px high shows no line of text")
            if isinstance(widget, Label) and widget.text.strip():
                tw, th = widget.texture_size
                if tw > widget.width + 2 or th > widget.height + 2:
                    problems.append(
                        f"{name}: text {tw:.0f}x{th:.0f} in a box {widget.width:.0f}x{widget.height:.0f}"
                    )
        return problems

    def leftovers(self, secrets: list[str]) -> list[str]:
        """Anything a previous patient could have left in any widget: text, a selection, a scroll."""
        found = []
        for widget in self.everything():
            name = type(widget).__name__
            text = getattr(widget, "text", None)
            if isinstance(text, str) and any(s.lower() in text.lower() for s in secrets):
                found.append(f"{name} shows {text!r}")
            if isinstance(widget, TextInput) and widget.text:
                found.append(f"{name} holds {widget.text!r}")
            # The one selection a fresh welcome screen has is its first language.
            if getattr(widget, "selected", False) and getattr(widget, "value", None) != self.c.languages[0]:
                found.append(f"{name} {getattr(widget, 'text', '')!r} is selected")
            if isinstance(widget, ScrollView) and (widget.scroll_y != 1 or widget.scroll_x != 0):
                found.append(f"{name} scrolled to {widget.scroll_x},{widget.scroll_y}")
            if getattr(widget, "state", "normal") == "down":
                found.append(f"{name} {getattr(widget, 'text', '')!r} is held down")
        return found


def _shown(widget: Widget) -> bool:
    node: Any = widget
    while node is not None and node is not Window:
        if node.opacity == 0 or (node.width <= 0 and node.height <= 0):
            return False
        node = node.parent
    return not widget.disabled or isinstance(widget, ButtonBehavior)


# -- scenarios -----------------------------------------------------------------------------------


def scenario_complete(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    slow = p.get("slow_save", 0)
    seen_while_saving: list[str] = []
    if slow:  # a slow SD card: the save takes `slow` seconds on the worker thread
        save = d.store.save

        def slow_save(record: dict[str, Any]) -> None:
            time.sleep(slow)
            save(record)

        d.store.save = slow_save  # type: ignore[method-assign]
    taps: list[float] = []
    original_next = d.next

    def timed_next() -> None:
        started = time.monotonic()
        original_next()
        taps.append(time.monotonic() - started)
        if d.c.saving:
            seen_while_saving.append(d.app.screens["question"].ids.status.text)

    d.next = timed_next  # type: ignore[method-assign]
    shown = d.complete(p["answers"], p["language"])
    saved_when_thanked = [count for name, count in d.screens_seen if name == "thank_you"]
    result = {
        "shown": shown,
        "phase": d.c.phase,
        "saved_when_thank_you_appeared": saved_when_thanked,
        "thank_you_text": d.app.screens["thank_you"].message,
        "finish_tap_seconds": taps[-1],
        "status_while_saving": seen_while_saving,
    }
    d.wait(d.c.thank_you_seconds)
    result["after_thank_you"] = d.c.phase
    return result


def scenario_idle(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    d.start()
    d.answer(p["answer"])
    d.wait(d.c.idle_seconds - 1)
    before = d.c.still_there
    d.wait(1)
    overlay = d.app.overlays.get("still_there")
    shown = overlay is not None and overlay.parent is not None
    button = d.button(d.t("I'm still here")) if shown else None
    d.shot("still-there")
    countdown = overlay.message if overlay else ""
    d.wait(5)
    later = overlay.message if overlay else ""
    d.tap_at(dp(30), dp(30))  # a tap beside the button
    still_after_stray_tap = d.c.still_there
    d.tap(button)
    dismissed = overlay.parent is None
    d.wait(d.c.idle_seconds + 19)
    countdown_again = d.c.still_there and d.c.phase == "question"
    d.wait(1)
    d.until(lambda: d.store.count() > 0, timeout=2)
    return {
        "overlay_before_deadline": before,
        "overlay_shown": shown,
        "button_size_dp": [button.width / dp(1), button.height / dp(1)] if button else None,
        "countdown": [countdown, later],
        "still_after_stray_tap": still_after_stray_tap,
        "dismissed_by_button": dismissed,
        "countdown_again": countdown_again,
        "phase_after": d.c.phase,
        "screen_after": d.app.manager.current,
        "overlay_after": overlay.parent is not None,
    }


def scenario_privacy(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    d.tap(d.find(ChoiceButton, text=d.t("Larger text")))
    shown = d.complete(p["answers"], "es")
    d.wait(d.c.thank_you_seconds)
    after_completed = d.leftovers(p["secrets"])
    # A second patient walks away mid-way, mid-word, in the symbols layer, with high contrast on.
    d.tap(d.find(ChoiceButton, text=d.t("High contrast")))
    d.start("es")
    for qid in ("overall", "front_desk", "wait", "recommend"):
        d.answer(p["answers"][qid])
        d.next()
    d.type_text(p["answers"]["improve"][:9] + "5")
    if d._has_key("shift"):
        d.tap(d.find(Key, key="shift"))
    d.shot("privacy-mid-text")
    d.wait(d.c.idle_seconds + 20)
    d.until(lambda: d.store.count() >= 2, timeout=3)
    after_walk_away = d.leftovers(p["secrets"])
    d.shot("privacy-after-reset")
    return {
        "shown": shown,
        "after_completed": after_completed,
        "after_walk_away": after_walk_away,
        "language": d.c.language,
        "font_scale": d.app.font_scale,
        "theme": d.app.theme.name,
        "screen": d.app.manager.current,
    }


def scenario_layout(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    """Every screen, in normal and larger text, for the 48 dp rule and for clipped text."""
    problems: list[str] = []
    sizes: dict[str, float] = {}
    visited: list[str] = []

    def check(where: str) -> None:
        visited.append(where)
        d.shot(f"layout-{where}")
        problems.extend(d.layout_problems(where))

    for large in (False, True):
        mode = "large" if large else "normal"
        if large:
            d.tap(d.find(ChoiceButton, text=d.t("Larger text")))
        d.choose_language(p["language"])
        check(f"welcome-{mode}")
        sizes[f"start-{mode}"] = d.button(d.t("Start")).font_size
        d.start(p["language"])
        sizes[f"question-{mode}"] = d.app.screens["question"].ids.question_text.font_size
        while d.c.question_view is not None:
            view = d.c.question_view
            check(f"{view.question.id}-{mode}")
            if view.question.type == "text":
                d.tap(d.find(Key, key="123"))
                check(f"{view.question.id}-symbols-{mode}")
                d.tap(d.find(Key, key="abc"))
            d.answer(p["answers"][view.question.id])
            check(f"{view.question.id}-answered-{mode}")
            d.clock.advance(5)
            if view.question.id == p["still_there_at"]:
                d.wait(d.c.idle_seconds + 1)
                check(f"still-there-{mode}")
                d.tap(d.button(d.t("I'm still here")))
            d.next()
        d.until(lambda: d.c.phase == "thank_you")
        check(f"thank-you-{mode}")
        d.app.screens["thank_you"].show(d.survey, d.c.language, d.c.texts, failed=True)
        check(f"save-failed-{mode}")
        d.wait(d.c.thank_you_seconds)
        if large:
            d.tap(d.find(ChoiceButton, text=d.t("Larger text")))
    d.hold_corner()
    check("pin")
    d.enter_pin("2468")
    d.until(lambda: d.c.admin_status is not None)
    check("admin")
    return {"problems": problems, "visited": visited, "font_sizes": sizes}


def scenario_save_failure(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    filler = d.data_dir / "filler.bin"
    fill_disk(filler)
    d.complete(p["answers"], "en")
    phase = d.c.phase
    message = d.app.screens["thank_you"].message
    d.shot("save-failed")
    d.hold_corner()
    d.enter_pin("2468")
    d.until(lambda: d.c.admin_status is not None)
    admin = d.app.screens["admin"]
    admin_error = admin.last_error
    admin_unsaved = admin.pending
    d.shot("admin-after-failure")
    d.tap(d.button(d.t("Back to the survey")))
    filler.unlink()
    d.complete(p["answers"] | {"why": "second try"}, "en")
    return {
        "phase": phase,
        "message": message,
        "admin_error": admin_error,
        "admin_pending": admin_unsaved,
        "phase_after_space_freed": d.c.phase,
        "stored": d.store.count(),
        "screens": [name for name, _ in d.screens_seen],
    }


def fill_disk(path: Path) -> None:
    """Fill the small filesystem the data folder is on, as a full disk would be."""
    block = b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        try:
            while f.write(block):
                pass
        except OSError:
            pass


def scenario_pin(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    escape_outside = Window.dispatch("on_keyboard", 27, 0, None, [])
    close_outside = Window.dispatch("on_request_close")
    d.tap_at(dp(20), Window.height - dp(20), hold=1.0)
    short_hold = d.c.pin_open
    d.hold_corner()
    opened = d.c.pin_open
    d.shot("pin-pad")
    messages = []
    for _ in range(5):
        d.enter_pin("1357")
        messages.append(d.app.overlays["pin"].message)
    d.shot("pin-locked")
    d.enter_pin("2468")
    locked_phase = d.c.phase
    keys_disabled = d.app.overlays["pin"].ids.keypad.disabled
    d.wait(PIN_LOCK_SECONDS)
    closed_by_itself = not d.c.pin_open
    d.hold_corner()
    d.enter_pin("2468")
    d.until(lambda: d.c.admin_status is not None)
    admin = d.app.screens["admin"]
    d.shot("admin")
    close_in_admin = Window.dispatch("on_request_close")
    return {
        "escape_outside_consumed": bool(escape_outside),
        "close_outside_blocked": bool(close_outside),
        "short_hold_opened": short_hold,
        "opened": opened,
        "messages": messages,
        "locked_phase": locked_phase,
        "keys_disabled_when_locked": keys_disabled,
        "pad_closed_by_itself": closed_by_itself,
        "phase_after_lock": d.c.phase,
        "admin_texts": [admin.stored, admin.pending, admin.last_error],
        "close_in_admin_blocked": bool(close_in_admin),
        "exit_button": d.button(d.t("Exit kiosk")) is not None,
    }


def scenario_speech(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    d.start(p["language"])
    speakers = [w for w in d.visible() if type(w).__name__ == "SpeakerButton"]
    if speakers:
        d.tap(speakers[0])
        time.sleep(0.5)
    return {"speaker_shown": bool(speakers), "engine": getattr(d.app.speech, "name", None)}


SCENARIOS = {
    "complete": scenario_complete,
    "idle": scenario_idle,
    "privacy": scenario_privacy,
    "layout": scenario_layout,
    "save_failure": scenario_save_failure,
    "pin": scenario_pin,
    "speech": scenario_speech,
}


def main() -> None:
    params = json.loads(sys.argv[1])
    shots = Path(params["shots"]) if params.get("shots") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    driver = Driver(Path(params["data_dir"]), shots)
    try:
        result = SCENARIOS[params["scenario"]](driver, params)
    finally:
        driver.close()
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
    os._exit(0)  # no Kivy teardown: the window dies with the process


if __name__ == "__main__":
    main()
