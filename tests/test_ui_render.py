"""What the kiosk's performance work must not change: the pixels, and the memory it gave back.

One offscreen window in a subprocess (Kivy allows one per process) draws the same buttons twice,
once as a border-coloured RoundedRectangle under the surface (as before) and once with the
RoundedBorder ring, reads both back with glReadPixels and compares them pixel by pixel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from screens.boot import prepare_kivy

prepare_kivy(Path(tempfile.mkdtemp()), windowed=True, offscreen=True, max_fps=0)
from kivy.base import EventLoop, runTouchApp
from kivy.core.image import Image as CoreImage
from kivy.core.window import Window
from kivy.graphics import Color, RoundedRectangle
from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glFinish, glReadPixels
from kivy.resources import resource_find
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from screens.app import release_text_surfaces
from screens.widgets import RoundedBorder

# Sizes of the kiosk's buttons (keys, list answers, faces, 0-10, Back), fractional ones as layouts
# make them, and one small enough for RoundedRectangle to clamp its radius.
BUTTONS = [
    (10, 700, 1200, 88), (10, 560, 185, 230), (205.5, 560, 185.25, 230), (400, 600, 100, 104),
    (510.3, 610.7, 107.27, 60), (630, 610, 240, 80), (880, 620, 28, 30), (10, 300, 1254.6, 240.4),
]
BORDER, SURFACE = (0.36, 0.41, 0.45, 1), (1, 1, 1, 1)


def frame(ring):
    widget = Widget()
    with widget.canvas:
        for x, y, w, h in BUTTONS:
            Color(*BORDER)
            if ring:
                RoundedBorder(pos=(x, y), size=(w, h), radius=16, width=2)
            else:
                RoundedRectangle(pos=(x, y), size=(w, h), radius=[16])
            Color(*SURFACE)
            RoundedRectangle(pos=(x + 2, y + 2), size=(w - 4, h - 4), radius=[14])
    Window.add_widget(widget)
    for _ in range(2):
        EventLoop.idle()
    glFinish()
    pixels = glReadPixels(0, 0, Window.width, Window.height, GL_RGBA, GL_UNSIGNED_BYTE)
    Window.remove_widget(widget)
    return pixels


runTouchApp(Widget(), embedded=True)
Window.clearcolor = (0, 0, 0, 1)
before, after = frame(ring=False), frame(ring=True)
count = len(before) // 4
differing = sum(before[i * 4 : i * 4 + 4] != after[i * 4 : i * 4 + 4] for i in range(count))
border = bytes(round(c * 255) for c in BORDER)
border_pixels = sum(after[i * 4 : i * 4 + 4] == border for i in range(count))

release_text_surfaces()
label = Label(text="Thank you", font_size=40)
Window.add_widget(label)
for _ in range(2):
    EventLoop.idle()  # a label's text is drawn into its texture when the texture is first bound
surface = getattr(label._label, "_surface", "never drawn")
logo = CoreImage(resource_find("data/logo/kivy-icon-64.png"))
print("RESULT " + json.dumps({
    "pixels": count, "differing": differing, "border_pixels": border_pixels,
    "surface": "kept" if surface not in (None, "never drawn") else surface,
    "texture": list(label.texture_size),
    "png": list(logo.size), "pillow": "PIL" in sys.modules, "numpy": "numpy" in sys.modules,
}))
"""


@pytest.fixture(scope="module")
def rendered() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"LP_NUM_THREADS": "0", **os.environ},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"render failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def test_ring_border_draws_exactly_what_two_rounded_rectangles_drew(rendered: dict) -> None:
    # Thin 2-pixel rings around eight buttons: thousands of pixels, none of them different.
    assert rendered["border_pixels"] > 5000
    assert rendered["differing"] == 0, f"{rendered['differing']} of {rendered['pixels']} pixels differ"


def test_label_keeps_its_texture_but_not_a_second_copy(rendered: dict) -> None:
    assert rendered["texture"][0] > 0 and rendered["texture"][1] > 0
    assert rendered["surface"] is None


def test_images_load_through_sdl2_without_pillow_or_numpy(rendered: dict) -> None:
    assert rendered["png"] == [64, 64]
    assert rendered["pillow"] is False and rendered["numpy"] is False
