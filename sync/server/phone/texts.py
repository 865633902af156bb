"""The phone pages' own words, in a gettext domain of their own (`phone`).

Survey texts come from the survey file; the pages' buttons, hints and refusals come from
`assets/locale/<lang>/LC_MESSAGES/phone.po` (compiled to `.mo` beside it), kept apart from the
kiosk's catalogue so the two are edited independently. English is the source language.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from kiosk.i18n import LOCALE_DIR, SOURCE_LANGUAGE, Texts

DOMAIN = "phone"


def page_languages(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Languages the phone pages speak: English and every compiled `phone` catalogue."""
    found = {p.parent.parent.name for p in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return sorted(found | {SOURCE_LANGUAGE})


def offered(survey_languages: Iterable[str]) -> list[str]:
    """The survey's languages the pages can also speak, in the survey's order: one language a page."""
    known = set(page_languages())
    return [lang for lang in survey_languages if lang in known]


def preferred(accept_language: str | None, choices: list[str]) -> str:
    """The first of `choices` the browser asks for, else the first choice (for pages with no survey)."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, position, tag.strip().lower().split("-")[0]))
    for _, _, lang in sorted(weighted):
        if lang in choices:
            return lang
    return choices[0]


@lru_cache(maxsize=16)
def _catalogue(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[language], fallback=True)


class PageTexts:
    """`_("Next")`, `_.plural(...)`, and language names, for one page in one language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._t = _catalogue(language)

    def __call__(self, message: str, **values: object) -> str:
        text = self._t.gettext(message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, n: int, **values: object) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **values)


def language_name(language: str) -> str:
    """A language's name in itself ("Español"), from the kiosk's catalogue, which already has it."""
    return Texts(language).language_name
