"""Interface strings through gettext, so that a new language is a new catalogue and no code change.

Survey texts translate inside the survey file; everything the kiosk itself says (buttons, the
"Still there?" overlay, the PIN pad) lives in `assets/locale/<lang>/LC_MESSAGES/kiosk.po`, compiled
to the `.mo` beside it. English is the source language, so it works even without a catalogue.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "assets" / "locale"
DOMAIN = "kiosk"
SOURCE_LANGUAGE = "en"
LANGUAGE_NAME_CONTEXT = "language name"
KEYBOARD_CONTEXT = "keyboard extra keys"
NO_EXTRA_KEYS = "(none)"


def N_(message: str) -> str:
    """Marks a string for the catalogues where it is defined; it is translated where it is shown."""
    return message


def catalogue_languages(locale_dir: Path = LOCALE_DIR, domain: str = DOMAIN) -> list[str]:
    """Languages `domain` speaks: the source language and every compiled catalogue of it."""
    return list(_compiled_languages(locale_dir, domain))


@cache
def _compiled_languages(locale_dir: Path, domain: str) -> tuple[str, ...]:
    """Scanned once: the `.mo` files ship with the app, and the phone pages ask several times a request."""
    found = {p.parent.parent.name for p in locale_dir.glob(f"*/LC_MESSAGES/{domain}.mo")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


def offered_languages(
    survey_languages: Iterable[str], locale_dir: Path = LOCALE_DIR, domain: str = DOMAIN
) -> list[str]:
    """The survey's languages that the interface can also speak, in the survey's order.

    A survey translated into a language with no interface catalogue would mix two languages on
    one screen, so that language is not offered until its catalogue ships.
    """
    known = set(_compiled_languages(locale_dir, domain))
    return [lang for lang in survey_languages if lang in known]


@lru_cache(maxsize=32)
def translations(
    language: str, locale_dir: Path = LOCALE_DIR, domain: str = DOMAIN
) -> gettext.NullTranslations:
    return gettext.translation(domain, localedir=str(locale_dir), languages=[language], fallback=True)


class Texts:
    """The interface strings of one language in one domain: `texts("{k} of {n}", k=3, n=6)`."""

    def __init__(self, language: str, locale_dir: Path = LOCALE_DIR, domain: str = DOMAIN) -> None:
        self.language = language
        self._locale_dir = locale_dir
        self._t = translations(language, locale_dir, domain)

    def __call__(self, message: str, **values: object) -> str:
        text = self._t.gettext(message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, n: int, **values: object) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **values)

    @property
    def language_name(self) -> str:
        """The language's name in itself ("Español"), for its button; the kiosk's catalogue holds it."""
        return translations(self.language, self._locale_dir).pgettext(LANGUAGE_NAME_CONTEXT, "English")

    @property
    def keyboard_extra_keys(self) -> list[str]:
        """Letters the on-screen keyboard adds for this language; the kiosk's catalogue lists them."""
        keys = translations(self.language, self._locale_dir).pgettext(KEYBOARD_CONTEXT, NO_EXTRA_KEYS)
        return [] if keys == NO_EXTRA_KEYS else keys.split()
