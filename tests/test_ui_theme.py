"""The theme's colours, as numbers: every text pair at least 4.5:1 (WCAG 1.4.3), outlines 3:1 (1.4.11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from screens.theme import CALM, HIGH_CONTRAST, SIZES, THEMES, Theme, contrast_ratio, rgb

SCREENS = Path(__file__).resolve().parent.parent / "screens"


def test_contrast_formula_matches_wcag_examples() -> None:
    assert contrast_ratio(rgb("#000000"), rgb("#FFFFFF")) == pytest.approx(21.0)
    assert contrast_ratio(rgb("#777777"), rgb("#FFFFFF")) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio(rgb("#FFFFFF"), rgb("#FFFFFF")) == pytest.approx(1.0)


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_every_text_pair_reaches_4_5_to_1(theme: Theme) -> None:
    low = [(where, round(contrast_ratio(fg, bg), 2)) for where, fg, bg in theme.text_pairs]
    assert [pair for pair in low if pair[1] < 4.5] == []


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_outlines_reach_3_to_1(theme: Theme) -> None:
    low = [(where, round(contrast_ratio(fg, bg), 2)) for where, fg, bg in theme.graphic_pairs]
    assert [pair for pair in low if pair[1] < 3.0] == []


def test_high_contrast_is_higher_than_calm() -> None:
    def worst(theme: Theme) -> float:
        return min(contrast_ratio(fg, bg) for _, fg, bg in theme.text_pairs)

    assert worst(HIGH_CONTRAST) > worst(CALM) >= 4.5


def test_kv_files_use_only_theme_colours_that_exist() -> None:
    """A misspelt colour in a .kv file would fail only at run time, on the screen that uses it."""
    names = set(CALM.colors())
    used = {m for kv in SCREENS.glob("*.kv") for m in re.findall(r"app\.theme\.(\w+)", kv.read_text())}
    assert used and used <= names


def test_text_sizes_are_large() -> None:
    assert min(SIZES.values()) >= 22
    assert 34 <= SIZES["question"] <= 40 and SIZES["button"] >= 28
