"""Interface strings for kv rules: `tr._("Next")` in a .kv file follows the language as it changes.

kv binds a rule to the attribute it reads; `Translator.fbind` remembers the rules that read `_`,
and `switch()` re-evaluates them, so a language button re-labels every screen at once. Screens are
built once and reused; rules of widgets that are gone are dropped at the next switch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.event import Observable

from kiosk.i18n import SOURCE_LANGUAGE, Texts


class Translator(Observable):
    def __init__(self) -> None:
        super().__init__()
        self.texts = Texts(SOURCE_LANGUAGE)
        self._rules: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def _(self, message: str, **values: object) -> str:
        return self.texts(message, **values)

    def fbind(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name == "_":
            self._rules.append((func, args))
            return len(self._rules)
        return super().fbind(name, func, *args, **kwargs)

    def funbind(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if name == "_":
            self._rules = [(f, a) for f, a in self._rules if (f, a) != (func, args)]
            return
        super().funbind(name, func, *args, **kwargs)

    def unbind_uid(self, name: str, uid: Any) -> None:
        if name != "_":
            super().unbind_uid(name, uid)

    def switch(self, texts: Texts) -> None:
        if texts.language == self.texts.language:
            return
        self.texts = texts
        alive = []
        for func, args in self._rules:
            try:
                func(*args, None, None)
            except ReferenceError:  # its widget is gone; so is the rule
                continue
            alive.append((func, args))
        self._rules = alive


tr = Translator()
