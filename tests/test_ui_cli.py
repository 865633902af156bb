"""`python main.py preview` and `kiosk` from the outside, and the kiosk's window settings."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "LP_NUM_THREADS": "0"}


def main_py(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.ui
def test_preview_renders_every_screen_of_a_survey(tmp_path: Path) -> None:
    done = main_py(
        "preview", "--data-dir", str(tmp_path / "data"), "--survey", "fft", "--out", str(tmp_path / "out")
    )
    assert done.returncode == 0, done.stderr
    names = [Path(line).name for line in done.stdout.split()]
    expected = [
        "welcome",
        "question-overall",
        "question-why",
        "still-there",
        "thank-you",
        "save-failed",
        "handoff",
    ]
    assert names == [
        f"fft-{lang}-{i:02d}-{n}.png" for lang in ("en", "es") for i, n in enumerate(expected, 1)
    ]
    image = pytest.importorskip("PIL.Image")
    for name in names:
        path = tmp_path / "out" / name
        assert png_size(path) == (1280, 800)
        with image.open(path) as picture:
            colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50, f"{name} looks blank"
    assert not (tmp_path / "data" / "responses").exists(), "a preview must save nothing"


def test_preview_refuses_a_language_the_survey_lacks(tmp_path: Path) -> None:
    done = main_py(
        "preview", "--data-dir", str(tmp_path), "--survey", "fft", "--lang", "fr", "--out", str(tmp_path)
    )
    assert done.returncode == 2
    assert "--lang: fft is offered in en, es, not 'fr'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_survey_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"survey": "nope"}))
    for command in (["kiosk", "--windowed"], ["preview", "--out", str(tmp_path / "o")]):
        done = main_py(*command, "--data-dir", str(tmp_path))
        assert done.returncode == 2, done.stderr
        assert 'no built-in survey "nope"' in done.stderr and "Traceback" not in done.stderr


def test_kiosk_window_is_hardened_unless_windowed(tmp_path: Path) -> None:
    probe = "\n".join(
        [
            "import sys, json",
            "from pathlib import Path",
            "sys.path.insert(0, sys.argv[2])",
            "from screens.boot import prepare_kivy",
            "prepare_kivy(Path(sys.argv[3]), windowed=sys.argv[1] == 'windowed')",
            "from kivy.config import Config",
            "keys = json.loads(sys.argv[4])",
            "print(json.dumps({k: Config.get(s, k) for s, k in keys}))",
        ]
    )
    keys = [
        ("graphics", "fullscreen"),
        ("graphics", "borderless"),
        ("graphics", "show_cursor"),
        ("graphics", "allow_screensaver"),
        ("graphics", "multisamples"),
        ("kivy", "exit_on_escape"),
        ("input", "mouse"),
    ]
    settings = {}
    for mode in ("kiosk", "windowed"):
        done = subprocess.run(
            [sys.executable, "-c", probe, mode, str(ROOT), str(tmp_path), json.dumps(keys)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        settings[mode] = json.loads(done.stdout.splitlines()[-1])
    assert settings["kiosk"] == {
        "fullscreen": "auto",
        "borderless": "1",
        "show_cursor": "0",
        "allow_screensaver": "0",
        "multisamples": "0",
        "exit_on_escape": "0",
        "mouse": "mouse,disable_multitouch",
    }
    assert (
        settings["windowed"] | {"fullscreen": "auto", "borderless": "1", "show_cursor": "0"}
        == settings["kiosk"]
    )
    assert (settings["windowed"]["fullscreen"], settings["windowed"]["show_cursor"]) == ("0", "1")


@pytest.mark.ui
def test_kiosk_runs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """A service manager stops the kiosk with SIGTERM, which the window's close button cannot do."""
    env = {**ENV, "SDL_VIDEODRIVER": "offscreen"}
    kiosk = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "kiosk", "--windowed", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "responses").exists() and time.monotonic() < deadline:
            assert kiosk.poll() is None, kiosk.communicate()[1]
            time.sleep(0.1)
        time.sleep(2)  # the window is up and its loop running
        assert kiosk.poll() is None
        kiosk.send_signal(signal.SIGTERM)
        _, err = kiosk.communicate(timeout=15)
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait()
    assert kiosk.returncode == 0, err
    assert "Traceback" not in err
