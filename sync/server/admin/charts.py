"""Dashboard charts: drawn by matplotlib on the server (Agg, no display) as inline SVG.

SVG keeps its text as text and scales to any screen, a phone's included. Every chart comes with
a one-sentence summary for screen readers (`alt`) and the dashboard shows its numbers as a table
too. Hidden breakdowns (fewer than 5) are drawn as grey marks, never as their real height.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sync.server.admin.dashboard import MIN_COUNT, Distribution, Trend

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: smaller, sharper, searchable
        "svg.hashsalt": "feedback-dashboard",  # the same data draws the same SVG
        "font.family": "DejaVu Sans",
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)

BAR = "#1f5f99"
HIDDEN = "#9e9e9e"
POSITIVE = "#2e7d32"
NEGATIVE = "#b3261e"
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')
_lock = threading.Lock()  # matplotlib's global state (fonts, rcParams) is not thread-safe


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str
    alt: str


_drawn: dict[tuple[Any, ...], Chart] = {}
KEEP = 256  # charts kept: a dashboard looked at again, with no new response, is not drawn again


def _remembered(key: tuple[Any, ...], draw: Callable[[], Chart]) -> Chart:
    with _lock:
        chart = _drawn.get(key)
        if chart is None:
            chart = _drawn[key] = draw()
            if len(_drawn) > KEEP:
                _drawn.pop(next(iter(_drawn)))
        return chart


def _svg(figure: Figure, alt: str) -> Chart:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = out.getvalue()
    text = text[text.index("<svg") :]
    return Chart(_SIZE.sub(r"<svg\1", text, count=1), alt)


def per_day(days: Sequence[tuple[date, int | None]]) -> Chart:
    """Responses per day; days with 1-4 are marked hidden."""
    return _remembered(("per_day", tuple(days)), lambda: _per_day(days))


def distribution(item: Distribution) -> Chart:
    """One question's answers as horizontal bars, each labelled with its count and share."""
    key = ("distribution", item.text, item.answered, tuple((b.label, b.count) for b in item.bars))
    return _remembered(key, lambda: _distribution(item))


def trend(points: Sequence[Trend], unit: str, *, fft: bool, recommend: bool) -> Chart:
    """% positive (FFT) and the recommend score per week or month; hidden periods are gaps."""
    key = ("trend", unit, fft, recommend, tuple((p.start, p.fft_positive, p.recommend) for p in points))
    return _remembered(key, lambda: _trend(points, unit, fft=fft, recommend=recommend))


def _per_day(days: Sequence[tuple[date, int | None]]) -> Chart:
    figure = Figure(figsize=(4.8, 2.4))
    axes = figure.subplots()
    positions = range(len(days))
    counts = [c or 0 for _, c in days]
    axes.bar(positions, counts, color=BAR, width=0.8, label="responses")
    hidden = [i for i, (_, c) in enumerate(days) if c is None]
    if hidden:
        label = f"fewer than {MIN_COUNT}"
        axes.plot(hidden, [0] * len(hidden), "s", color=HIDDEN, markersize=4, label=label)
        axes.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, fontsize=9)
    step = max(1, -(-len(days) // 5))
    axes.set_xticks(list(positions)[::step], [d.strftime("%d %b") for d, _ in days][::step])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("responses")
    axes.set_ylim(bottom=0, top=max([*counts, MIN_COUNT]) * 1.15)
    shown = [c for _, c in days if c is not None]
    alt = (
        f"Responses per day, {days[0][0]:%d %b %Y} to {days[-1][0]:%d %b %Y}: "
        f"{sum(shown)} on the days shown, most on one day {max(shown, default=0)}; "
        f"{len(hidden)} day(s) with fewer than {MIN_COUNT} hidden."
    )
    return _svg(figure, alt)


def _distribution(item: Distribution) -> Chart:
    bars = item.bars
    figure = Figure(figsize=(4.8, 0.34 * len(bars) + 0.8))
    axes = figure.subplots()
    positions = list(range(len(bars)))[::-1]
    axes.barh(positions, [b.count for b in bars], color=BAR, height=0.7)
    axes.set_yticks(positions, [_short(b.label, 22) for b in bars])
    top = max([b.count for b in bars] + [1])
    for position, bar in zip(positions, bars, strict=True):
        words = f"{bar.count} ({bar.share:.0f}%)"
        axes.text(bar.count + top * 0.02, position, words, va="center", fontsize=9)
    axes.set_xlim(0, top * 1.35)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f"responses (of {item.answered} who answered)")
    parts = ", ".join(f"{b.label}: {b.count} ({b.share:.0f}%)" for b in bars)
    return _svg(figure, f"{item.text} {item.answered} answered. {parts}.")


def _trend(points: Sequence[Trend], unit: str, *, fft: bool, recommend: bool) -> Chart:
    figure = Figure(figsize=(4.8, 2.4))
    axes = figure.subplots()
    labels = [p.start.strftime("%d %b" if unit == "week" else "%b %Y") for p in points]
    positions = list(range(len(points)))
    lines = []
    if fft:
        values = [p.fft_positive if p.fft_positive is not None else float("nan") for p in points]
        axes.plot(positions, values, "o-", color=POSITIVE, label="FFT % positive")
        lines.append(("FFT % positive", [p.fft_positive for p in points]))
    if recommend:
        values = [p.recommend if p.recommend is not None else float("nan") for p in points]
        axes.plot(positions, values, "s--", color=BAR, label="recommend score")
        lines.append(("recommend score", [p.recommend for p in points]))
    step = max(1, -(-len(points) // 5))
    axes.set_xticks(positions[::step], labels[::step])
    axes.set_ylim(-100 if recommend else 0, 100)
    axes.axhline(0, color="#444", linewidth=0.6)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, fontsize=9)
    described = "; ".join(
        f"{name}: " + ", ".join(f"{label} {_number(v)}" for label, v in zip(labels, values, strict=True))
        for name, values in lines
    )
    return _svg(figure, f"Trend by {unit}. {described}.")


def _number(value: float | None) -> str:
    return "hidden" if value is None else f"{value:.0f}"


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
