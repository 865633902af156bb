"""The kiosk's Kivy App: thin, like Kivy's showcase. It builds screens on first use and reuses them.

It owns only what needs Kivy: the window and its hardening, the clock that lets time pass in the
controller, the worker thread for saves, and drawing the controller's state after each change.
"""

from __future__ import annotations

import gc
import importlib
import signal
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, ScreenManager, SlideTransition

from kiosk.config import KioskConfig
from kiosk.controller import KioskController
from kiosk.speech import Speech
from kiosk.survey import Survey
from screens.base import KioskScreen
from screens.lang import tr
from screens.theme import CALM, HIGH_CONTRAST, LARGE_TEXT_SCALE

FONTS = Path(__file__).resolve().parent.parent / "assets" / "fonts"
TICK_SECONDS = 0.25
CORNER_DP = 96

# Screens and overlays, imported and built on first use. A new screen is one entry here and its
# controller phase in PHASE_SCREENS.
SCREENS = {
    "welcome": "screens.welcome:WelcomeScreen",
    "question": "screens.question:QuestionScreen",
    "thank_you": "screens.thank_you:ThankYouScreen",
    "admin": "screens.admin:AdminScreen",
    "handoff": "screens.handoff:HandoffScreen",
}
OVERLAYS = {
    "still_there": "screens.still_there:StillThereOverlay",
    "pin": "screens.pin:PinPad",
}
PHASE_SCREENS = {
    "welcome": "welcome",
    "question": "question",
    "thank_you": "thank_you",
    "save_failed": "thank_you",
    "admin": "admin",
    "handoff": "handoff",
}
ORDER = ["welcome", "question", "handoff", "thank_you", "admin"]


def register_fonts() -> None:
    """Atkinson Hyperlegible everywhere: made for low vision, and it covers every shipped language."""
    LabelBase.register(
        DEFAULT_FONT,
        str(FONTS / "AtkinsonHyperlegible-Regular.ttf"),
        fn_bold=str(FONTS / "AtkinsonHyperlegible-Bold.ttf"),
    )


def release_text_surfaces() -> None:
    """Kivy's SDL2 text provider keeps each label's last drawing surface after copying it into the
    label's texture: a second copy of every text in memory (4.5 MB for one survey's screens). Its
    pygame provider frees it once copied; this makes the SDL2 one do the same.
    """
    from kivy.core.text import Label as CoreLabel

    render_end = CoreLabel._render_end
    if CoreLabel.__name__ != "LabelSDL2" or getattr(render_end, "releases_surface", False):
        return

    def _render_end(label: Any) -> Any:
        try:
            return render_end(label)
        finally:
            label._surface = None

    _render_end.releases_surface = True  # type: ignore[attr-defined]
    CoreLabel._render_end = _render_end


class Worker:
    """One thread for slow work (saves, PIN hashes); each result comes back on the UI thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-worker")

    def __call__(self, job: Callable[[], Any], done: Callable[[Any], None]) -> None:
        def finished(future: Future[Any]) -> None:
            error = future.exception()
            result = error if error is not None else future.result()
            Clock.schedule_once(lambda _dt: done(result))

        self._pool.submit(job).add_done_callback(finished)

    def close(self) -> None:
        """Wait for a save in flight: the process must not end between "saving" and "saved"."""
        self._pool.shutdown(wait=True)


def collect_garbage_between_patients() -> None:
    """Python's full collections walk every object (the built screens: 100 000+), 30-90 ms on a slow
    CPU, at whatever moment they fall due, often in the middle of a patient's tap. Do that walk now,
    while no one waits, then freeze what survives, so a visit's collections skip the long-lived screens.
    Unfreezing first means that nothing frozen is kept beyond the next patient if it becomes garbage.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _load(spec: str) -> type:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


class KioskApp(App):
    theme = ObjectProperty(CALM)
    font_scale = NumericProperty(1.0)
    logo = StringProperty("")
    title = "Patient feedback kiosk"
    use_kivy_settings = False

    def __init__(
        self,
        controller: KioskController,
        *,
        speech: Speech | None = None,
        logo: Path | None = None,
        transitions: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.controller = controller
        self.speech = speech
        self.logo = str(logo) if logo else ""
        self.transitions = transitions
        self.screens: dict[str, KioskScreen] = {}
        self.overlays: dict[str, ModalView] = {}
        self._resets = controller.resets
        self._corner_touch: Any = None
        self._tick: Any = None

    # -- building ------------------------------------------------------------------------------

    def build(self) -> ScreenManager:
        register_fonts()
        release_text_surfaces()
        transition = SlideTransition(duration=0.2) if self.transitions else NoTransition()
        self.manager = ScreenManager(transition=transition)
        Window.bind(
            on_touch_down=self._touch_down,
            on_touch_up=self._touch_up,
            on_keyboard=self._keyboard,
            on_request_close=self._request_close,
            on_textinput=self._text_input,
        )
        self.controller.subscribe(self.render)
        self._tick = Clock.schedule_interval(lambda _dt: self.controller.tick(), TICK_SECONDS)
        self.render()
        return self.manager

    def screen(self, name: str) -> KioskScreen:
        if name not in self.screens:
            screen = _load(SCREENS[name])(name=name)
            self.screens[name] = screen
            self.manager.add_widget(screen)
        return self.screens[name]

    def overlay(self, name: str) -> ModalView:
        if name not in self.overlays:
            self.overlays[name] = _load(OVERLAYS[name])()
        return self.overlays[name]

    def open_settings(self, *_: Any) -> bool:
        """F1 must not open Kivy's settings panel on a kiosk."""
        return False

    # -- drawing the controller's state ------------------------------------------------------

    def render(self) -> None:
        c = self.controller
        if c.exit_requested:
            self.stop()
            return
        tr.switch(c.texts)
        self.theme = HIGH_CONTRAST if c.high_contrast else CALM
        Window.clearcolor = self.theme.background  # the screens draw no background of their own
        self.font_scale = LARGE_TEXT_SCALE if c.large_text else 1.0
        if c.resets != self._resets:
            self._resets = c.resets
            self.forget_patient()
        name = PHASE_SCREENS[c.phase]
        self.screen(name).render(c)
        self.show_screen(name)
        self._show_overlay("still_there", c.still_there)
        self._show_overlay("pin", c.pin_open)

    def show_screen(self, name: str) -> None:
        manager = self.manager
        if manager.current != name:
            back = ORDER.index(name) < ORDER.index(manager.current) if manager.current else False
            if isinstance(manager.transition, SlideTransition):
                manager.transition.direction = "right" if back else "left"
            manager.current = name

    def _show_overlay(self, name: str, show: bool) -> None:
        if show:
            view = self.overlay(name)
            view.render(self.controller)
            if view.parent is None:
                view.open(animation=False)
        elif name in self.overlays and self.overlays[name].parent is not None:
            self.overlays[name].dismiss(animation=False)

    def forget_patient(self) -> None:
        """Privacy between patients: no screen keeps a text, a selection or a scroll position."""
        if self.speech is not None:
            self.speech.stop()
        for screen in self.screens.values():
            screen.clear()
        for view in self.overlays.values():
            view.clear()
        collect_garbage_between_patients()

    # -- the window ------------------------------------------------------------------------------

    def _touch_down(self, window: Any, touch: Any) -> bool:
        self.controller.touch()
        corner = dp(CORNER_DP)
        if touch.x <= corner and touch.y >= window.height - corner:
            self._corner_touch = touch.uid
            self.controller.corner_down()
        return False

    def _touch_up(self, _window: Any, touch: Any) -> bool:
        if touch.uid == self._corner_touch:
            self._corner_touch = None
            self.controller.corner_up()
        return False

    def _keyboard(self, _window: Any, key: int, *_: Any) -> bool:
        """Escape (and Android's back) works on the admin screen only; Backspace erases."""
        if key == 8:
            self.controller.erase()
            return True
        if key == 27 and self.controller.allows_exit:
            self.stop()
        return key == 27

    def _text_input(self, _window: Any, text: str) -> None:
        """A physical keyboard, where there is one, types like the on-screen one."""
        self.controller.type_text(text)

    def _request_close(self, *_: Any, **__: Any) -> bool:
        return not self.controller.allows_exit

    def on_stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        if self.speech is not None:
            self.speech.stop()


def start_sync(store: Any, config: KioskConfig, data_dir: Path) -> Any:
    """The uploader, once this kiosk is enrolled with a server."""
    if not config.enrolled:
        return None
    from sync.client import SyncClient

    client = SyncClient(store, config, data_dir=data_dir)
    client.start()
    return client


def run_kiosk(store: Any, config: KioskConfig, survey: Survey, data_dir: Path, *, logo: Path | None) -> None:
    """The kiosk until staff exit it; surveys the server publishes replace this one between patients."""
    from kiosk.admin import KioskAdmin
    from kiosk.speech import detect_speech

    worker = Worker()
    sync = start_sync(store, config, data_dir)
    admin = KioskAdmin(config, data_dir, store, sync=sync)
    controller = KioskController(
        survey,
        config,
        store,
        background=worker,
        updated_survey=sync.surveys.get if sync is not None else None,
        admin=admin,
        after_save=sync.sync_now if sync is not None else None,
    )
    app = KioskApp(controller, speech=detect_speech(), logo=logo)
    signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda _dt: app.stop()))
    try:
        app.run()
    finally:
        admin.close()
        worker.close()
        if sync is not None:
            sync.stop()
