"""A "Tell us how we did" poster: a big QR code opening a phone-only survey, for walls and receipts.

The code holds a short public link, `<server>/s/<site>/<survey id>`. It names no response: every
phone that opens it starts its own visit (sync/server/phone), so one poster serves everyone. The
code uses error correction M and a quiet zone of 4 modules, is drawn as vector squares (crisp in a
PDF at any size, and in a PNG), and is printed large with its link beneath it for anyone who
cannot scan.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, func, or_, select

from sync.protocol import KIOSK_ID_PATTERN
from sync.server.models import ALL_SITES, DEFAULT_SITE, Kiosk, Publication

A4_INCHES = (8.27, 11.69)
PNG_DPI = 150
QUIET_ZONE = 4
FORMATS = (".png", ".pdf")
SURVEY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
HEADLINE = "Tell us how we did"
HEADLINE_ES = "Cuéntenos cómo le fue"
SCAN = "Scan the code with your phone's camera."
SCAN_ES = "Escanee el código con la cámara de su teléfono."


def poster_path(site: str, survey_id: str) -> str:
    return f"/s/{site}/{survey_id}"


def poster_url(base: str, site: str, survey_id: str) -> str:
    return base.rstrip("/") + poster_path(site, survey_id)


def published_version(connection: Connection, site: str, survey_id: str) -> int | None:
    """The newest version of the survey published for a site the server knows; None otherwise.

    A site is known when it is the default, or a kiosk or a publication names it: a made-up site
    in a link must not become a place that collects responses.
    """
    if not (re.fullmatch(KIOSK_ID_PATTERN, site) and SURVEY_ID.fullmatch(survey_id)):
        return None
    if site != DEFAULT_SITE:
        kiosk = connection.execute(select(Kiosk.id).where(Kiosk.site == site).limit(1)).first()
        publication = connection.execute(select(Publication.id).where(Publication.site == site).limit(1))
        if kiosk is None and publication.first() is None:
            return None
    return connection.execute(
        select(func.max(Publication.version)).where(
            Publication.survey_id == survey_id, or_(Publication.site == site, Publication.site == ALL_SITES)
        )
    ).scalar_one_or_none()


def qr_matrix(url: str) -> list[list[bool]]:
    """The code's modules, quiet zone included, True for dark."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET_ZONE, box_size=1)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def draw_poster(url: str, out: Path, subtitle: str | None = None) -> None:
    """Write an A4 poster to `out`, a .png or a .pdf (matplotlib picks the format by suffix)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    figure = Figure(figsize=A4_INCHES, facecolor="white")
    width_in, height_in = A4_INCHES
    figure.text(0.5, 0.9, HEADLINE, ha="center", va="center", fontsize=46, fontweight="bold", color="#111111")
    figure.text(0.5, 0.84, HEADLINE_ES, ha="center", va="center", fontsize=32, color="#333333")
    if subtitle:
        figure.text(0.5, 0.785, subtitle, ha="center", va="center", fontsize=18, color="#333333")

    matrix = qr_matrix(url)
    size = len(matrix)
    side_in = 5.6  # about 14 cm, quiet zone included: scannable from a few steps away
    left = (1 - side_in / width_in) / 2
    bottom = 0.27
    axes = figure.add_axes((left, bottom, side_in / width_in, side_in / height_in))
    axes.set_xlim(0, size)
    axes.set_ylim(size, 0)
    axes.set_aspect("equal")
    axes.axis("off")
    squares = [Rectangle((x, y), 1, 1) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark]
    axes.add_collection(
        PatchCollection(squares, facecolor="black", edgecolor="none", linewidth=0, antialiased=False)
    )

    # Monospace glyphs are about 0.6 em wide: keep a long address inside the page margins.
    url_size = min(20.0, 7.0 * 72 / (0.6 * len(url)))
    figure.text(
        0.5, 0.225, url, ha="center", va="center", fontsize=url_size, family="monospace", color="#111111"
    )
    figure.text(0.5, 0.15, SCAN, ha="center", va="center", fontsize=18, color="#222222")
    figure.text(0.5, 0.115, SCAN_ES, ha="center", va="center", fontsize=18, color="#222222")
    figure.savefig(out, dpi=PNG_DPI, facecolor="white")
