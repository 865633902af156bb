"""Colours and text sizes of the kiosk, kept free of Kivy so that their contrast is tested as numbers.

Every pair of text and background colour the screens use is listed in `Theme.text_pairs`, and a
test checks each one against WCAG's 4.5:1. Graphics (face outlines, borders) are held to 3:1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

Color = tuple[float, float, float, float]

# Text sizes in sp, before the "Larger text" scale. Nothing a patient reads is under 22 sp.
SIZES = {
    "title": 44,
    "question": 36,
    "body": 28,
    "button": 28,
    "start": 40,
    "small": 22,
}
LARGE_TEXT_SCALE = 1.3


def rgb(hex_code: str, alpha: float = 1.0) -> Color:
    h = hex_code.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


def luminance(color: Color) -> float:
    """WCAG 2 relative luminance."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in color[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Color, b: Color) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Theme:
    name: str
    background: Color
    text: Color
    muted: Color
    surface: Color
    on_surface: Color
    border: Color
    primary: Color
    on_primary: Color
    selected: Color
    on_selected: Color
    disabled: Color
    on_disabled: Color
    face: Color
    face_line: Color
    scrim: Color

    @property
    def text_pairs(self) -> list[tuple[str, Color, Color]]:
        """(where, text colour, background colour) for every text the screens draw."""
        return [
            ("text on background", self.text, self.background),
            ("muted text on background", self.muted, self.background),
            ("text on surface", self.on_surface, self.surface),
            ("muted text on surface", self.muted, self.surface),
            ("primary button", self.on_primary, self.primary),
            ("selected answer", self.on_selected, self.selected),
            ("disabled button", self.on_disabled, self.disabled),
            ("face symbol on face", self.face_line, self.face),
        ]

    @property
    def graphic_pairs(self) -> list[tuple[str, Color, Color]]:
        """Outlines that show where a button is: WCAG 1.4.11 asks 3:1."""
        return [
            ("button border on background", self.border, self.background),
            ("face ring on surface", self.border, self.surface),
            ("selected fill on background", self.selected, self.background),
            ("primary fill on background", self.primary, self.background),
        ]

    def colors(self) -> dict[str, Color]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}


CALM = Theme(
    name="calm",
    background=rgb("#F4F6F8"),
    text=rgb("#15202B"),
    muted=rgb("#44505C"),
    surface=rgb("#FFFFFF"),
    on_surface=rgb("#15202B"),
    border=rgb("#5B6874"),
    primary=rgb("#1D5A96"),
    on_primary=rgb("#FFFFFF"),
    selected=rgb("#0E3D66"),
    on_selected=rgb("#FFFFFF"),
    disabled=rgb("#DDE2E7"),
    on_disabled=rgb("#4A5561"),
    face=rgb("#FFE08A"),
    face_line=rgb("#2B2118"),
    scrim=rgb("#0B1620", 0.72),
)

HIGH_CONTRAST = Theme(
    name="high_contrast",
    background=rgb("#000000"),
    text=rgb("#FFFFFF"),
    muted=rgb("#E6E6E6"),
    surface=rgb("#000000"),
    on_surface=rgb("#FFFFFF"),
    border=rgb("#FFFFFF"),
    primary=rgb("#FFFFFF"),
    on_primary=rgb("#000000"),
    selected=rgb("#FFE600"),
    on_selected=rgb("#000000"),
    disabled=rgb("#2E2E2E"),
    on_disabled=rgb("#C8C8C8"),
    face=rgb("#FFE600"),
    face_line=rgb("#000000"),
    scrim=rgb("#000000", 0.85),
)

THEMES = (CALM, HIGH_CONTRAST)
