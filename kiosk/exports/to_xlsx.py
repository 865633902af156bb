"""XLSX: a "responses" sheet shaped like the CSV, and a "codebook" sheet that explains it.

Written with openpyxl in write-only mode, so rows stream to disk as they come and memory stays
flat. Cells are handed over as plain values, which openpyxl writes through one reused cell; only
the bold headers and text that needs protecting get cells of their own.

Text that could read as a formula (or as an error value such as "#N/A") is stored as a text cell
with Excel's "quote prefix" style: the patient's words stay exactly as typed, Excel shows them as
text and does not turn them into a formula even when someone edits the cell. Control characters,
which XML cannot hold and openpyxl refuses, use Excel's own `_xHHHH_` escape; a carriage return
becomes a character reference (with lxml) or that escape (without), so the text round-trips
exactly; only a lone surrogate, which no XML file can hold, becomes U+FFFD.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from openpyxl import LXML, Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from kiosk.exports.progress import Progress
from kiosk.exports.table import DANGEROUS_FIRST, METADATA, ExportError, Layout

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

MAX_ROWS = 1_048_576  # Excel's limit, header row included
WIDTHS = {"id": 38, "started_at": 21, "submitted_at": 21, "survey_id": 14, "status": 11}
CODEBOOK_WIDTHS = [14, 8, 16, 16, 15, 50, 14, 30]
BOLD = Font(bold=True)
# Text that openpyxl, and Excel, would read as an error value rather than as words; each starts
# with "#".
_NOT_PLAIN = frozenset(ERROR_CODES)

# lxml writes a carriage return as a character reference; the standard library's XML writer,
# which openpyxl uses without lxml, leaves it raw, and an XML reader would read that back as a line
# feed. Without lxml a carriage return therefore takes Excel's escape too.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f" if LXML else "\x00-\x08\x0b-\x1f"
_NEEDS_WORK = re.compile(f"[{_CONTROLS}\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{{4}}_")
_EXCEL_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_CONTROL = re.compile(f"[{_CONTROLS}]")
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")
# One search tells whether a text needs any of that, or protecting: most text needs neither.
_ATTENTION = re.compile(f"^[{re.escape(''.join(sorted(DANGEROUS_FIRST | {'#'})))}]|{_NEEDS_WORK.pattern}")


def excel_text(value: str) -> str:
    """`value` escaped so that Excel, decoding the XML and then its `_xHHHH_` escapes, reads it back."""
    if not _NEEDS_WORK.search(value):
        return value
    value = _EXCEL_ESCAPE.sub(r"_x005F_\1", value)  # a literal "_x0041_" must not turn into "A"
    value = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    return _NOT_XML.sub("\ufffd", value)


class _Cells:
    """Text for one sheet: plain values where they are safe, a text cell where they are not."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        self.sheet = sheet

    def text(self, value: str) -> Any:
        if not _ATTENTION.search(value):
            return value
        protect = value[:1] in DANGEROUS_FIRST or value in _NOT_PLAIN
        value = excel_text(value)
        if not protect:
            return value
        cell = WriteOnlyCell(self.sheet, value)
        cell.data_type = "s"  # openpyxl would make "=..." a formula and "#N/A" an error
        cell.quotePrefix = True
        return cell

    def header(self, names: list[str]) -> list[Cell]:
        cells = []
        for name in names:
            value = self.text(name)
            cell = value if isinstance(value, Cell) else WriteOnlyCell(self.sheet, value)
            cell.font = BOLD
            cells.append(cell)
        return cells

    def row(self, values: list[Any]) -> list[Any]:
        return [self.text(v) if type(v) is str else v for v in values]


def _sheet(book: Workbook, title: str, widths: list[float]) -> WriteOnlyWorksheet:
    """A worksheet with its header row frozen; widths must be set before the first row."""
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    return sheet


def write_xlsx(
    out: BinaryIO,
    records: Iterable[Mapping[str, Any]],
    layout: Layout,
    progress: Progress,
    codebook_language: str | None = None,
) -> int:
    if layout.total >= MAX_ROWS:
        raise ExportError(
            f"{layout.total:,} responses are more than one Excel sheet holds ({MAX_ROWS - 1:,}); "
            "export fewer (--since, --until) or use CSV"
        )
    book = Workbook(write_only=True)
    try:
        done = _fill(book, records, layout, progress, codebook_language)
        book.save(out)
    except BaseException:
        _discard(book)
        raise
    progress.finish(done)
    return done


def _fill(
    book: Workbook,
    records: Iterable[Mapping[str, Any]],
    layout: Layout,
    progress: Progress,
    codebook_language: str | None,
) -> int:
    """Stream the responses, then the codebook, into the workbook's sheets; returns the count."""
    widths = [WIDTHS.get(h, 16 if h in METADATA else 18) for h in layout.headers]
    data = _sheet(book, "responses", widths)
    cells = _Cells(data)
    data.append(cells.header(layout.headers))
    row = layout.renderer(cells.text)
    append = data.append
    done = 0
    for record in records:
        if done + 2 > MAX_ROWS:
            raise ExportError(f"more responses than one Excel sheet holds ({MAX_ROWS - 1:,}); use CSV")
        append(row(record))
        done += 1
        if not done & 1023:
            progress.update(done)

    codebook = _sheet(book, "codebook", CODEBOOK_WIDTHS)
    code_cells = _Cells(codebook)
    lines = layout.codebook(codebook_language)
    codebook.append(code_cells.header(next(lines)))
    for line in lines:
        codebook.append(code_cells.row(line))
    return done


def _discard(book: Workbook) -> None:
    """Delete the temporary files of a workbook that will not be saved.

    A write-only sheet streams its rows into a temporary file, which openpyxl deletes when it
    saves the workbook or else only when the process exits: a failed export on a server that keeps
    running must not leave patients' answers in the temporary folder until then.
    """
    for sheet in book.worksheets:
        with contextlib.suppress(Exception):  # ends the XML; half-written XML may not end cleanly
            sheet.close()
        writer = sheet._writer  # openpyxl's own, private: it knows the file's name
        if writer is not None:
            with contextlib.suppress(OSError):
                os.remove(writer.out)
