"""The kiosk's touch widgets: big buttons, faces drawn with shapes, and one answer widget per question type.

Answer widgets only show a `QuestionView` and report taps through events (`on_choose`, and for free
text `on_type` / `on_erase`); the question screen forwards those to the controller. Each is built once
per question and reused, so `show()` must set every piece of state it draws, and `clear()` must
leave nothing of the previous patient.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from kivy.factory import Factory
from kivy.graphics import Color, Ellipse, Line, Mesh
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label

from kiosk.controller import QuestionView
from kiosk.i18n import N_, Texts
from kiosk.survey import Option, Question

_loaded: set[str] = set()


def load_kv(module_file: str) -> None:
    """Load the .kv file beside a screen's module, once: screens are built lazily, on first use."""
    path = str(Path(module_file).with_suffix(".kv"))
    if path not in _loaded:
        _loaded.add(path)
        Builder.load_file(path)


def _corner_arcs(segments: int) -> list[list[tuple[float, float]]]:
    """Unit offsets of a rounded corner's points, top-left corner first, clockwise, computed as
    Kivy's RoundedRectangle does (an incremental rotation), so that outlines meet it exactly."""
    theta = math.radians(-90) / segments
    tangential, radial = math.tan(theta), math.cos(theta)
    arcs = []
    for corner in range(4):
        start = math.radians(180 - 90 * corner)
        x, y = math.cos(start), math.sin(start)
        arc = []
        for _ in range(segments):
            arc.append((x, y))
            x, y = (x - y * tangential) * radial, (y + x * tangential) * radial
        end = math.radians(90 - 90 * corner)
        arc.append((round(math.cos(end)), round(math.sin(end))))  # closing point, exactly on the axis
        arcs.append(arc)
    return arcs


class RoundedBorder(Mesh):
    """Only the border of a rounded rectangle: the ring between its outline and the same outline
    `width` further in, where a surface `RoundedRectangle` (radius less `width`) is drawn.

    It looks exactly like a border-coloured RoundedRectangle under that surface, but the button's
    area is shaded once instead of twice: with a software renderer (Mesa's llvmpipe, no GPU) filling
    pixels is most of a frame, and this takes about a fifth off the keyboard's.
    """

    SEGMENTS = 10  # RoundedRectangle's default, so that the ring meets the surface's outline
    _arcs = _corner_arcs(SEGMENTS)

    def __init__(self, **kwargs: Any) -> None:
        self._pos: tuple[float, float] = kwargs.pop("pos", (0.0, 0.0))
        self._size: tuple[float, float] = kwargs.pop("size", (100.0, 100.0))
        self._radius: float = kwargs.pop("radius", 10.0)
        self._width: float = kwargs.pop("width", 1.0)
        super().__init__(mode="triangle_strip", **kwargs)
        self._build()

    def _outline(self, x: float, y: float, w: float, h: float, r: float) -> list[tuple[float, float]]:
        rx, ry = min(r, w / 2), min(r, h / 2)  # as RoundedRectangle clamps its radius
        centres = ((x + rx, y + h - ry), (x + w - rx, y + h - ry), (x + w - rx, y + ry), (x + rx, y + ry))
        return [
            (cx + ux * rx, cy + uy * ry)
            for (cx, cy), arc in zip(centres, self._arcs, strict=True)
            for ux, uy in arc
        ]

    def _build(self) -> None:
        (x, y), (w, h), r, d = self._pos, self._size, self._radius, self._width
        if w <= 2 * d or h <= 2 * d:
            self.vertices, self.indices = [], []
            return
        outer = self._outline(x, y, w, h, r)
        inner = self._outline(x + d, y + d, w - 2 * d, h - 2 * d, r - d)
        vertices: list[float] = []
        for (ox, oy), (ix, iy) in zip([*outer, outer[0]], [*inner, inner[0]], strict=True):
            vertices += (ox, oy, 0.0, 0.0, ix, iy, 0.0, 0.0)
        self.vertices = vertices
        self.indices = list(range(len(vertices) // 4))

    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self._build()

    pos = property(lambda self: self._pos, lambda self, value: self._set("_pos", tuple(value)))
    size = property(lambda self: self._size, lambda self, value: self._set("_size", tuple(value)))
    radius = property(lambda self: self._radius, lambda self, value: self._set("_radius", value))
    width = property(lambda self: self._width, lambda self, value: self._set("_width", value))


Factory.register("RoundedBorder", cls=RoundedBorder)


class KioskButton(ButtonBehavior, Label):
    """A large button with wrapped text; `kind` is "primary" for the one main action of a screen."""

    kind = StringProperty("secondary")


class SpeakerButton(KioskButton):
    """ "Read aloud", with a speaker drawn beside the words."""


class FaceIcon(Label):
    """A face from very sad (1) to very happy (5), drawn with shapes; `symbol` draws a glyph instead."""

    face = NumericProperty(0)
    symbol = StringProperty("")
    star = BooleanProperty(False)
    theme = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(
            pos=self._draw,
            size=self._draw,
            face=self._draw,
            star=self._draw,
            symbol=self._draw,
            theme=self._draw,
        )

    def _draw(self, *_: Any) -> None:
        self.canvas.before.clear()
        theme = self.theme
        if theme is None:
            return
        r = min(self.width, self.height) / 2 - dp(3)
        cx, cy = self.x + self.width / 2, self.y + self.height / 2
        if r <= 0:
            return
        with self.canvas.before:
            if self.star:
                points = []
                for i in range(10):
                    angle = math.pi / 2 + i * math.pi / 5
                    radius = r if i % 2 == 0 else r * 0.45
                    points += [cx + radius * math.cos(angle), cy + radius * math.sin(angle)]
                Color(*theme.face)
                vertices = [cx, cy, 0, 0]
                for i in range(0, len(points), 2):
                    vertices += [points[i], points[i + 1], 0, 0]
                vertices += [points[0], points[1], 0, 0]
                Mesh(vertices=vertices, indices=list(range(12)), mode="triangle_fan")
                Color(*theme.border)
                Line(points=points, close=True, width=dp(2))
                return
            Color(*theme.face)
            Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
            Color(*theme.border)
            # Bevel joints: on curves this fine they look like round ones, at a tenth of the triangles.
            Line(circle=(cx, cy, r), width=dp(2), joint="bevel")
            if self.symbol:  # the glyph is the label's own text, drawn over this disc
                return
            Color(*theme.face_line)
            eye = r * 0.13
            for side in (-1, 1):
                Ellipse(pos=(cx + side * r * 0.35 - eye, cy + r * 0.22 - eye), size=(2 * eye, 2 * eye))
            curve = (self.face - 3) / 2  # -1 very sad .. +1 very happy
            mouth_y = cy - r * 0.35
            Line(
                bezier=[
                    cx - r * 0.45,
                    mouth_y + curve * r * 0.08,
                    cx,
                    mouth_y - curve * r * 0.42,
                    cx + r * 0.45,
                    mouth_y + curve * r * 0.08,
                ],
                width=dp(3.5),
                cap="round",
                joint="bevel",
            )


class ChoiceButton(ButtonBehavior, BoxLayout):
    """One answer. Selected is never shown by colour alone: a ticked marker, a fill and a thick border.

    The marker is a circle for one-of-several answers and a box for choose-all-that-apply; a big
    button (with a face) carries it in its top-right corner.
    """

    text = StringProperty("")
    value = ObjectProperty(None, allownone=True)
    selected = BooleanProperty(False)
    multiple = BooleanProperty(False)
    face = NumericProperty(0)
    symbol = StringProperty("")
    star = BooleanProperty(False)
    big = BooleanProperty(False)
    compact = BooleanProperty(False)
    marker = ObjectProperty((0.0, 0.0, 0.0))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(
            pos=self._place_marker,
            size=self._place_marker,
            big=self._place_marker,
            compact=self._place_marker,
        )

    def _place_marker(self, *_: Any) -> None:
        # From x, y, width and height: the alias properties (right, top, center_y) may lag here.
        side = dp(26) if self.compact else dp(40)
        x, y, width, height = self.x, self.y, self.width, self.height
        if self.compact:
            self.marker = (x + width - side - dp(6), y + height - side - dp(6), side)
        elif self.big:
            self.marker = (x + width - side - dp(14), y + height - side - dp(14), side)
        else:
            self.marker = (x + dp(22), y + height / 2 - side / 2, side)


class AnswerWidget(BoxLayout):
    """Base of the answer widgets: `show(view, texts)` draws, `clear()` forgets, taps go to `on_choose`."""

    def __init__(self, **kwargs: Any) -> None:
        self.register_event_type("on_choose")
        super().__init__(**kwargs)

    def on_choose(self, value: Any) -> None:
        pass

    def show(self, view: QuestionView, texts: Texts) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Nothing of the previous patient may remain; the next `show()` draws the new one."""


class ChoicesAnswer(AnswerWidget):
    """Options as buttons: faces in a row when the options have faces, else a list of big buttons."""

    def __init__(self, question: Question, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", size_hint_y=None, **kwargs)
        self.bind(minimum_height=self.setter("height"))
        self.question = question
        self.buttons: list[ChoiceButton] = []
        options = self._options(question)
        pictures = any(o.face or o.icon for o in options)
        columns = len(options) if pictures else (1 if len(options) <= 4 else 2)
        grid = GridLayout(cols=columns, spacing=dp(16), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        for option in options:
            button = ChoiceButton(
                value=option.value,
                multiple=question.type == "multiple_choice",
                face=option.face or 0,
                symbol="?" if option.icon == "question" else "",
                star=question.style == "stars",
                big=pictures,
            )
            button.bind(on_release=self._tapped)
            self.buttons.append(button)
            grid.add_widget(button)
        self.add_widget(grid)

    @staticmethod
    def _options(question: Question) -> list[Option]:
        if question.type == "rating":
            return [Option(str(n), {}, face=n) for n in range(1, 6)]
        return list(question.options)

    def _tapped(self, button: ChoiceButton) -> None:
        value = int(button.value) if self.question.type == "rating" else button.value
        self.dispatch("on_choose", value)

    def show(self, view: QuestionView, texts: Texts) -> None:
        q = view.question
        chosen = view.value if isinstance(view.value, list) else [view.value]
        words = rating_words(view, texts) if q.type == "rating" else []
        for index, button in enumerate(self.buttons):
            if q.type == "rating":
                button.text = words[index]
                button.selected = view.value == index + 1
            else:
                button.text = view.text(q.options[index].label)
                button.selected = button.value in chosen

    def clear(self) -> None:
        for button in self.buttons:
            button.selected = False


RATING_WORDS = (N_("Very bad"), N_("Bad"), N_("Okay"), N_("Good"), N_("Very good"))


def rating_words(view: QuestionView, texts: Texts) -> list[str]:
    """The five words under a rating's faces: the survey's own labels, else the kiosk's."""
    q = view.question
    return [view.text(label) for label in q.labels] if q.labels else [texts(w) for w in RATING_WORDS]


class ScaleAnswer(AnswerWidget):
    """0 to 10 in one row, with the meaning of both ends written under them."""

    def __init__(self, question: Question, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", spacing=dp(12), size_hint_y=None, **kwargs)
        self.bind(minimum_height=self.setter("height"))
        self.question = question
        row = GridLayout(cols=11, spacing=dp(8), size_hint_y=None)
        row.bind(minimum_height=row.setter("height"))
        self.buttons = []
        for n in range(11):
            button = ChoiceButton(value=n, text=str(n), compact=True)
            button.bind(on_release=lambda b: self.dispatch("on_choose", b.value))
            self.buttons.append(button)
            row.add_widget(button)
        ends = BoxLayout(size_hint_y=None, spacing=dp(24))
        self.min_label = EndLabel(halign="left")
        self.max_label = EndLabel(halign="right")
        ends.add_widget(self.min_label)
        ends.add_widget(self.max_label)
        ends.bind(minimum_height=ends.setter("height"))
        self.add_widget(row)
        self.add_widget(ends)

    def show(self, view: QuestionView, texts: Texts) -> None:
        q = view.question
        self.min_label.text = "0: " + view.text(q.min_label) if q.min_label else ""
        self.max_label.text = "10: " + view.text(q.max_label) if q.max_label else ""
        for button in self.buttons:
            button.selected = button.value == view.value

    def clear(self) -> None:
        for button in self.buttons:
            button.selected = False


class EndLabel(Label):
    """The words under an end of the 0-10 row."""


class YesNoAnswer(AnswerWidget):
    def __init__(self, question: Question, **kwargs: Any) -> None:
        super().__init__(spacing=dp(32), size_hint_y=None, height=dp(120), **kwargs)
        self.question = question
        self.buttons = [ChoiceButton(value=True), ChoiceButton(value=False)]
        for button in self.buttons:
            button.bind(on_release=lambda b: self.dispatch("on_choose", b.value))
            self.add_widget(button)

    def show(self, view: QuestionView, texts: Texts) -> None:
        for button, word in zip(self.buttons, (texts("Yes"), texts("No")), strict=True):
            button.text = word
            button.selected = button.value is view.value

    def clear(self) -> None:
        for button in self.buttons:
            button.selected = False


class InfoAnswer(AnswerWidget):
    """An information text takes no answer: the question text says it all."""

    def show(self, view: QuestionView, texts: Texts) -> None:
        pass


def answer_widget(question: Question) -> AnswerWidget:
    """The widget for a question type; free text gets the keyboard panel from `screens.keyboard`."""
    if question.type == "text":
        from screens.keyboard import TextAnswer

        return TextAnswer(question)
    if question.type == "likelihood":
        return ScaleAnswer(question)
    if question.type == "yes_no":
        return YesNoAnswer(question)
    if question.type == "info":
        return InfoAnswer()
    return ChoicesAnswer(question)


load_kv(__file__)
