"""Kivy's settings for a kiosk, applied before the first `import kivy` (which reads them once).

Fullscreen, borderless, no cursor, no screensaver, no multitouch emulation dots, and Escape left to
the app (which ignores it outside the admin screen). `windowed` turns all of that off for development,
and `offscreen` renders real frames with no display at all, for the preview, tests and benchmarks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WINDOW_SIZE = (1280, 800)


def prepare_kivy(
    kivy_home: Path,
    *,
    windowed: bool,
    offscreen: bool = False,
    size: tuple[int, int] = WINDOW_SIZE,
    max_fps: int = 60,
) -> None:
    if "kivy" in sys.modules:
        raise RuntimeError("prepare_kivy() must run before Kivy is imported")
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ["KIVY_HOME"] = str(kivy_home)
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ["KIVY_NO_CONFIG"] = "1"
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    # Kivy's records go to Python logging, which shows warnings and errors only.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    # Images (a logo, Kivy's own theme) through SDL2_image alone, which reads PNG and JPEG. Otherwise
    # Kivy also imports Pillow, and Pillow imports numpy wherever numpy is installed: 13 MB of memory
    # in every kiosk process for code it never calls (screenshots are saved by SDL too).
    os.environ.setdefault("KIVY_IMAGE", "sdl2")
    if offscreen:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    # SDL would turn SIGTERM into a window-close request, which the kiosk refuses outside the admin
    # screen; the app handles SIGTERM itself, so that a service manager can still stop it.
    os.environ["SDL_NO_SIGNAL_HANDLERS"] = "1"
    from kivy.config import Config
    from kivy.logger import LOG_LEVELS, Logger

    Logger.setLevel(LOG_LEVELS["warning"])
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "allow_screensaver", "0")
    Config.set("graphics", "maxfps", str(max_fps))
    Config.set("graphics", "multisamples", "0")
    kiosk = not windowed and not offscreen
    Config.set("graphics", "fullscreen", "auto" if kiosk else "0")
    Config.set("graphics", "borderless", "1" if kiosk else "0")
    Config.set("graphics", "show_cursor", "0" if kiosk else "1")
    Config.set("graphics", "resizable", "0" if kiosk else "1")
    if not kiosk:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
