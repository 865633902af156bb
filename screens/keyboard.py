"""Free text on a kiosk: the typed text, a character counter, and an on-screen keyboard docked below.

No system keyboard ever pops up: the keys send text to the controller, which owns the draft and
its length limit. The extra letters of a language (á é í ó ú ü ñ ¿ ¡ for Spanish) come from that
language's catalogue, so a new language brings its own keys without a code change.
"""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from kiosk.controller import QuestionView
from kiosk.i18n import Texts
from kiosk.survey import Question
from screens.widgets import AnswerWidget, KioskButton, load_kv

LETTERS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
SYMBOLS = ("1234567890", "@.,-_'!?()", '+#/:;&%"')
SHIFT, ERASE, SPACE, SYMBOL_LAYER, LETTER_LAYER = "shift", "erase", "space", "123", "abc"
# Five rows (with a language's extra letters) must leave room for a two-line question in larger text.
KEY_HEIGHT, KEY_GAP = 60, 6


class Key(KioskButton):
    key = StringProperty("")
    selected = BooleanProperty(False)


class TextDisplay(ScrollView):
    """What has been typed; it scrolls to the newest line as the patient types."""

    text = StringProperty("")


class OnScreenKeyboard(BoxLayout):
    """Letters (with the language's extra keys on top), or digits and symbols; one-shot shift.

    Each layer is built once per language and kept; shift only relabels the keys, so a key press
    never rebuilds the keyboard.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.register_event_type("on_type")
        self.register_event_type("on_erase")
        super().__init__(orientation="vertical", spacing=dp(KEY_GAP), size_hint_y=None, **kwargs)
        self.symbols = False
        self.shift = False
        self.texts: Texts | None = None  # no keys until `set_texts` says in which language
        self._layers: dict[tuple[str, bool], list[BoxLayout]] = {}

    def on_type(self, text: str) -> None:
        pass

    def on_erase(self) -> None:
        pass

    def set_texts(self, texts: Texts) -> None:
        if self.texts is None or texts.language != self.texts.language:
            self.texts = texts
            self._show()

    def reset(self) -> None:
        self.symbols = False
        self._set_shift(False)
        if self.texts is not None:
            self._show()

    def _show(self) -> None:
        assert self.texts is not None
        key = (self.texts.language, self.symbols)
        if key not in self._layers:
            self._layers[key] = self._build()
        rows = self._layers[key]
        if self.children != rows[::-1]:
            self.clear_widgets()
            for row in rows:
                self.add_widget(row)
        self.height = len(rows) * dp(KEY_HEIGHT) + (len(rows) - 1) * dp(KEY_GAP)
        self._set_shift(self.shift)

    def _build(self) -> list[BoxLayout]:
        rows: list[list[str]] = []
        extra = self.texts.keyboard_extra_keys
        if extra and not self.symbols:
            rows.append(extra)
        base = SYMBOLS if self.symbols else LETTERS
        rows += [list(base[0]), list(base[1])]
        rows.append([] if self.symbols else [SHIFT])
        rows[-1] += [*base[2], ERASE]
        rows.append([LETTER_LAYER if self.symbols else SYMBOL_LAYER, ",", SPACE, "."])
        lines = []
        for row in rows:
            line = BoxLayout(spacing=dp(KEY_GAP), size_hint_y=None, height=dp(KEY_HEIGHT))
            for key in row:
                line.add_widget(self._key(key))
            lines.append(line)
        return lines

    def _key(self, key: str) -> Key:
        t = self.texts
        labels = {
            SHIFT: "Aa",
            ERASE: t("Delete"),
            SPACE: t("Space"),
            SYMBOL_LAYER: "123",
            LETTER_LAYER: "abc",
        }
        weight = {SPACE: 5.0, ERASE: 2.0, SHIFT: 1.5, SYMBOL_LAYER: 1.5, LETTER_LAYER: 1.5}.get(key, 1.0)
        button = Key(key=key, text=labels.get(key, key), size_hint_x=weight)
        button.bind(on_release=self._pressed)
        return button

    def _set_shift(self, shift: bool) -> None:
        self.shift = shift
        for row in self.children:
            for button in row.children:
                if button.key == SHIFT:
                    button.selected = shift
                elif len(button.key) == 1:
                    button.text = button.key.upper() if shift else button.key

    def _pressed(self, button: Key) -> None:
        key = button.key
        if key == SHIFT:
            self._set_shift(not self.shift)
        elif key in (SYMBOL_LAYER, LETTER_LAYER):
            self.symbols = key == SYMBOL_LAYER
            self.shift = False
            self._show()
        elif key == ERASE:
            self.dispatch("on_erase")
        else:
            self.dispatch("on_type", " " if key == SPACE else key.upper() if self.shift else key)
            if self.shift:
                self._set_shift(False)


class TextAnswer(AnswerWidget):
    def __init__(self, question: Question, **kwargs: Any) -> None:
        self.register_event_type("on_type")
        self.register_event_type("on_erase")
        super().__init__(orientation="vertical", spacing=dp(10), **kwargs)
        self.question = question
        self.display = TextDisplay()
        self.counter = Counter()
        self.keyboard = OnScreenKeyboard()
        self.keyboard.bind(
            on_type=lambda _, text: self.dispatch("on_type", text),
            on_erase=lambda _: self.dispatch("on_erase"),
        )
        self.add_widget(self.display)
        self.add_widget(self.counter)
        self.add_widget(self.keyboard)

    def on_type(self, text: str) -> None:
        pass

    def on_erase(self) -> None:
        pass

    def show(self, view: QuestionView, texts: Texts) -> None:
        self.keyboard.set_texts(texts)
        if self.display.text != view.draft:
            self.display.text = view.draft
            self.display.scroll_y = 0
        self.counter.text = texts(
            "{count} of {limit} characters", count=len(view.draft), limit=view.question.max_length
        )

    def clear(self) -> None:
        self.display.text = ""
        self.display.scroll_y = 1
        self.counter.text = ""
        self.keyboard.reset()


class Counter(BoxLayout):
    text = StringProperty("")


load_kv(__file__)
