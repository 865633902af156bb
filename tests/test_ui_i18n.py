"""The interface catalogues: compiled files in step with their sources, and complete for each language."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest

from kiosk.i18n import LOCALE_DIR, Texts, catalogue_languages, offered_languages
from kiosk.survey import builtin_survey, builtin_survey_ids

ROOT = Path(__file__).resolve().parent.parent
FONTS = ROOT / "assets" / "fonts"
TRANSLATING = {"t", "texts", "N_", "_", "plural"}


def read_po(path: Path) -> dict[tuple[str | None, str], list[str]]:
    """A small .po reader: (context, msgid) -> translations (one, or one per plural form)."""
    entries: dict[tuple[str | None, str], list[str]] = {}
    fields: dict[str, str] = {}
    current = ""

    def flush() -> None:
        if fields.get("msgid"):
            forms = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
            entries[(fields.get("msgctxt"), fields["msgid"])] = forms
        fields.clear()

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            flush()
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            fields[current] += ast.literal_eval(line)
        else:
            current, _, value = line.partition(" ")
            if current == "msgctxt" and "msgid" in fields:
                flush()
            fields[current] = ast.literal_eval(value)
    return entries


def used_messages() -> set[str]:
    """Every string the screens and the controller pass to a translating call."""
    found: set[str] = set()
    for path in [*ROOT.glob("screens/*.py"), ROOT / "kiosk" / "controller.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in TRANSLATING:
                    strings = [a.value for a in node.args if isinstance(a, ast.Constant)]
                    found.update(s for s in strings if isinstance(s, str) and s)
    for path in ROOT.glob("screens/*.kv"):
        found.update(ast.literal_eval(m) for m in re.findall(r'tr\._\(("[^"]*")\)', path.read_text()))
    return found


CATALOGUES = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/kiosk.po"))


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parent.parent.name)
def test_compiled_catalogue_matches_its_source(po: Path) -> None:
    with open(po.with_suffix(".mo"), "rb") as f:
        compiled = gettext.GNUTranslations(f)
    entries = read_po(po)
    assert entries
    for (context, msgid), forms in entries.items():
        if len(forms) == 1:
            got = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
            assert got == (forms[0] or msgid), f"{po}: {msgid!r}: recompile with msgfmt"


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parent.parent.name)
def test_every_interface_string_is_translated(po: Path) -> None:
    entries = read_po(po)
    plurals = {ast.literal_eval(m) for m in re.findall(r"^msgid_plural (.*)$", po.read_text(), re.M)}
    msgids = {msgid for _, msgid in entries} | plurals
    missing = sorted(used_messages() - msgids)
    assert missing == [], f"{po}: add these messages"
    empty = [msgid for (_, msgid), forms in entries.items() if not all(forms)]
    assert empty == []


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parent.parent.name)
def test_placeholders_survive_translation(po: Path) -> None:
    for (_, msgid), forms in read_po(po).items():
        for form in forms:
            assert set(re.findall(r"\{(\w+)", form)) == set(re.findall(r"\{(\w+)", msgid)), f"{po}: {msgid!r}"


def test_languages_and_their_own_names() -> None:
    assert catalogue_languages() == ["en", "es"]
    assert [Texts(lang).language_name for lang in ("en", "es")] == ["English", "Español"]
    assert offered_languages(["es", "fr", "en"]) == ["es", "en"]


def test_spanish_keyboard_has_its_letters() -> None:
    assert Texts("es").keyboard_extra_keys == ["á", "é", "í", "ó", "ú", "ü", "ñ", "¿", "¡"]
    assert Texts("en").keyboard_extra_keys == []


def test_plurals_follow_the_count() -> None:
    t = Texts("es")
    one = t.plural("Wrong PIN. {n} try left.", "Wrong PIN. {n} tries left.", 1)
    assert one == "PIN incorrecto. Le queda 1 intento."
    assert t.plural("Wrong PIN. {n} try left.", "Wrong PIN. {n} tries left.", 3).endswith("3 intentos.")


def test_font_covers_every_shipped_text() -> None:
    """Every character of every catalogue and built-in survey, in both weights of the shipped font."""
    ttlib = pytest.importorskip("fontTools.ttLib")
    text = "".join(
        "".join(form for forms in read_po(po).values() for form in forms) + "".join(k for _, k in read_po(po))
        for po in CATALOGUES
    )
    text += "".join(
        (ROOT / "assets" / "surveys" / f"{sid}.json").read_text(encoding="utf-8")
        for sid in builtin_survey_ids()
    )
    text += "".join(Texts("es").keyboard_extra_keys) + "•…"
    needed = {c for c in text if c.isprintable() and not c.isspace()}
    for weight in ("Regular", "Bold"):
        cmap = ttlib.TTFont(FONTS / f"AtkinsonHyperlegible-{weight}.ttf").getBestCmap()
        assert sorted(c for c in needed if ord(c) not in cmap) == [], weight
    assert (FONTS / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE") >= 1
    assert builtin_survey("fft").languages == ("en", "es")
