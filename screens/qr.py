"""A QR code that phones read from a metre away: error correction M, a 4-module quiet zone, and
whole-pixel modules drawn with nearest-neighbour filtering, so no edge is ever blurred.

The code is always dark on white, whatever the theme: many phone cameras cannot read an inverted
code, and the white quiet zone is part of the texture, so a black high-contrast background cannot
eat into it.
"""

from __future__ import annotations

from typing import Any

import qrcode
from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.widget import Widget

QUIET_MODULES = 4
DARK = b"\x00\x00\x00\xff"
LIGHT = b"\xff\xff\xff\xff"


def qr_matrix(data: str) -> list[list[bool]]:
    """The modules of `data`, quiet zone included; True is a dark module."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_MODULES)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_texture(matrix: list[list[bool]]) -> Texture:
    """One texel per module; RGBA, so every row is 4-byte aligned whatever the module count."""
    size = len(matrix)
    # A texture's first row is the bottom of the image.
    pixels = b"".join(DARK if dark else LIGHT for row in reversed(matrix) for dark in row)
    texture = Texture.create(size=(size, size), colorfmt="rgba")
    texture.mag_filter = "nearest"
    texture.min_filter = "nearest"
    texture.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte")
    return texture


class QrCode(Widget):
    """The largest square of whole-pixel modules that fits the widget, centred in it."""

    data = StringProperty("")
    modules = NumericProperty(0)  # per side, quiet zone included; 0 when empty
    module_px = NumericProperty(0)
    texture = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(data=self._encode, pos=self._draw, size=self._draw)

    def _encode(self, *_: Any) -> None:
        if self.data:
            matrix = qr_matrix(self.data)
            self.modules = len(matrix)
            self.texture = qr_texture(matrix)
        else:
            self.modules = 0
            self.texture = None
        self._draw()

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        if self.texture is None or not self.modules:
            self.module_px = 0
            return
        self.module_px = int(min(self.width, self.height) // self.modules)
        side = self.module_px * self.modules
        # From x, y, width and height: the alias properties (center_x, ...) may lag inside a bind.
        x = round(self.x + (self.width - side) / 2)
        y = round(self.y + (self.height - side) / 2)
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(texture=self.texture, pos=(x, y), size=(side, side))

    @property
    def drawn_size(self) -> int:
        """The side of the code on screen in pixels, quiet zone included."""
        return self.module_px * self.modules
