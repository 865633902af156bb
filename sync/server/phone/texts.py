"""The phone pages' own words, in a gettext domain of their own (`phone`).

Survey texts come from the survey file; the pages' buttons, hints and refusals come from
`assets/locale/<lang>/LC_MESSAGES/phone.po` (compiled to `.mo` beside it), kept apart from the
kiosk's catalogue so the two are edited independently. English is the source language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kiosk.i18n import Texts, catalogue_languages, offered_languages

DOMAIN = "phone"


def page_languages() -> list[str]:
    """Languages the phone pages speak: English and every compiled `phone` catalogue."""
    return catalogue_languages(domain=DOMAIN)


def offered(survey_languages: Iterable[str]) -> list[str]:
    """The survey's languages the pages can also speak, in the survey's order: one language a page."""
    return offered_languages(survey_languages, domain=DOMAIN)


def survey_page_languages(survey_languages: Sequence[str]) -> list[str]:
    """The languages a survey's pages come in: those the pages speak, else the survey's own ones."""
    return offered(survey_languages) or list(survey_languages)


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


class PageTexts(Texts):
    """`_("Next")`, `_.plural(...)`, and language names, for one page in one language."""

    def __init__(self, language: str) -> None:
        super().__init__(language, domain=DOMAIN)


def language_name(language: str) -> str:
    """A language's name in itself ("Español"), from the kiosk's catalogue, which already has it."""
    return Texts(language).language_name
