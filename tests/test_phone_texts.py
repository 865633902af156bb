"""The phone pages' own words: every one is in each `phone` catalogue, compiled, placeholders intact."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import jinja2
import pytest

from kiosk.i18n import LOCALE_DIR
from sync.server.phone import texts
from sync.server.phone.pages import TEMPLATES

PHONE_CODE = Path(texts.__file__).parent
CATALOGUES = sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{texts.DOMAIN}.po"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def used_messages() -> dict[str, str | None]:
    """msgid -> msgid_plural (or None), from the templates and from N_() in the phone code."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    found: dict[str, str | None] = {}
    for template in sorted((TEMPLATES / "phone").glob("*.html")):
        for _line, _function, message in env.extract_translations(template.read_text(encoding="utf-8")):
            strings = message if isinstance(message, tuple) else (message,)
            if strings[0] is not None:
                found[strings[0]] = strings[1] if len(strings) > 1 else None
    for module in sorted(PHONE_CODE.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
                (argument,) = node.args
                assert isinstance(argument, ast.Constant), f"{module}: N_ takes a literal"
                found[argument.value] = None
    return found


def read_po(path: Path) -> dict[str, list[str]]:
    """msgid -> its translations (one, or one per plural form); a reader just big enough for ours."""
    entries: dict[str, list[str]] = {}
    current: dict[str, str] = {}
    key = ""

    def flush() -> None:
        if current.get("msgid"):
            forms = sorted(k for k in current if k.startswith("msgstr"))
            entries[current["msgid"]] = [current[k] for k in forms]
        current.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            current[key] += ast.literal_eval(line)
            continue
        key, _, rest = line.partition(" ")
        if key == "msgid":
            flush()
        current[key] = ast.literal_eval(rest)
    flush()
    return entries


def test_the_pages_use_words_that_the_code_marks() -> None:
    used = used_messages()
    assert "Next" in used and "This link isn't valid" in used and "Tell us how we did" in used
    assert used["{n} question left."] == "{n} questions left."


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parent.parent.name)
def test_every_word_is_translated_compiled_and_keeps_its_placeholders(po: Path) -> None:
    used = used_messages()
    entries = read_po(po)
    assert sorted(set(used) - set(entries)) == [], f"{po}: untranslated"
    assert sorted(set(entries) - set(used)) == [], f"{po}: no longer used"
    with open(po.with_suffix(".mo"), "rb") as f:
        compiled = gettext.GNUTranslations(f)
    for msgid, forms in entries.items():
        assert all(forms), f"{po}: {msgid!r} has an empty translation"
        assert len(forms) == (2 if used[msgid] else 1), f"{po}: {msgid!r}"
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) == set(PLACEHOLDER.findall(msgid)), f"{po}: {msgid!r}"
        got = compiled.ngettext(msgid, used[msgid], 1) if used[msgid] else compiled.gettext(msgid)
        assert got == forms[0], f"{po}: {msgid!r}: recompile with msgfmt -o phone.mo phone.po"


def test_spanish_is_offered_and_an_unknown_language_falls_back() -> None:
    assert "es" in texts.page_languages() and "en" in texts.page_languages()
    assert texts.offered(["es", "fr", "en"]) == ["es", "en"]
    assert texts.preferred("fr-CA, es;q=0.8, en;q=0.5", ["en", "es"]) == "es"
    assert texts.preferred("de", ["en", "es"]) == "en"
    assert (
        texts.PageTexts("es").plural("{n} question left.", "{n} questions left.", 3) == "Quedan 3 preguntas."
    )
