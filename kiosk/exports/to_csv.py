"""CSV for spreadsheets: UTF-8 with a BOM so Excel reads the accents, and no formula injection.

Following OWASP's advice on CSV injection, every field is quoted (so an embedded comma, semicolon
or quote cannot start a new cell, whichever separator the spreadsheet assumes), and text that
starts with = + - @ tab or CR gets a leading single quote. Numbers are written as numbers: only
text is neutralised, and the answers' integers are never negative anyway.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from kiosk.exports.progress import Progress
from kiosk.exports.table import Layout, neutralise

_BOOL_TEXT = {True: "true", False: "false"}


def write_csv(out: BinaryIO, records: Iterable[Mapping[str, Any]], layout: Layout, progress: Progress) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", errors="replace", newline="")
    try:
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(layout.headers)
        done = 0
        row = layout.row
        for record in records:
            # csv writes None as "" and numbers as digits; text is neutralised, booleans spelled out.
            writer.writerow(
                [
                    neutralise(v) if type(v) is str else (_BOOL_TEXT[v] if type(v) is bool else v)
                    for v in row(record)
                ]
            )
            done += 1
            if not done & 1023:
                progress.update(done)
        text.flush()
    finally:
        text.detach()
    progress.finish(done)
    return done
