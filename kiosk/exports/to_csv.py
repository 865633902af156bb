"""CSV for spreadsheets: UTF-8 with a BOM so Excel reads the accents, and no formula injection.

Following OWASP's advice on CSV injection, every field is quoted (so an embedded comma, semicolon
or quote cannot start a new cell, whichever separator the spreadsheet assumes), and text that
starts with = + - @ tab or CR gets a leading single quote. Numbers are written as numbers: only
text is neutralised, and the answers' integers are never negative anyway.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from kiosk.exports.progress import Progress
from kiosk.exports.table import DANGEROUS_FIRST, Layout, neutralise


def write_csv(out: BinaryIO, records: Iterable[Mapping[str, Any]], layout: Layout, progress: Progress) -> int:
    # The BOM is written once by hand: the "utf-8-sig" codec would run its Python-level encoder
    # on every row, where plain UTF-8 encodes in C.
    out.write(codecs.BOM_UTF8)
    text = io.TextIOWrapper(out, encoding="utf-8", errors="replace", newline="")
    try:
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(layout.headers)
        done = 0
        # csv writes None as "" and numbers as digits; text is neutralised, booleans spelled out.
        # Only text starting with a dangerous character goes through neutralise() at all.
        row = layout.renderer(neutralise, "false", "true", first=DANGEROUS_FIRST)
        write = writer.writerow
        for record in records:
            write(row(record))
            done += 1
            if not done & 1023:
                progress.update(done)
        text.flush()
    finally:
        text.detach()
    progress.finish(done)
    return done
