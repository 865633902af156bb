"""XLSX: a "responses" sheet shaped like the CSV, and a "codebook" sheet that explains it.

Written by a small streaming SpreadsheetML writer on the standard library's zipfile, not openpyxl:
openpyxl spends about 30 µs on each cell, so 100,000 responses took 33 to 53 s against a goal of
20 s, where this writer needs 4 to 5 s of CPU (see docs/exports.md and benchmarks/export.py).
Rows go straight into the compressed zip entry, so memory stays flat, and the kiosk needs no
package to write XLSX.

Text that could read as a formula is stored as a text cell with Excel's "quote prefix" style: the
patient's words stay exactly as typed, Excel shows them as text and does not turn them into a
formula even when someone edits the cell. Control characters use Excel's own `_xHHHH_` escape and
a carriage return its character reference, so text round-trips exactly; only a lone surrogate,
which no XML file can hold, becomes U+FFFD.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, BinaryIO

from kiosk.exports.progress import Progress
from kiosk.exports.table import METADATA, ExportError, Layout, is_dangerous

MAX_ROWS = 1_048_576  # Excel's limit, header row included
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
PLAIN, TEXT, BOLD = "", ' s="1"', ' s="2"'  # cell styles: default, quote prefix, bold header
WIDTHS = {"id": 38, "started_at": 21, "submitted_at": 21, "survey_id": 14, "status": 11}
CODEBOOK_WIDTHS = [14, 8, 16, 16, 15, 50, 14, 30]
BATCH = 256  # rows joined before each write into the zip stream

_NEEDS_WORK = re.compile("[&<>\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_EXCEL_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Escape text for a <t> element so that Excel reads back exactly `value`."""
    if not _NEEDS_WORK.search(value):
        return value
    value = _EXCEL_ESCAPE.sub(r"_x005F_\1", value)  # a literal "_x0041_" must not turn into "A"
    value = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    value = _NOT_XML.sub("\ufffd", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def column_letters(count: int) -> list[str]:
    letters = []
    for n in range(1, count + 1):
        name = ""
        while n:
            n, rest = divmod(n - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


def _cells(refs: list[str], row: int, values: list[Any], style: str = PLAIN) -> str:
    parts = [f'<row r="{row}">']
    for ref, value in zip(refs, values, strict=True):
        if value is None:
            continue
        if value is True or value is False:
            parts.append(f'<c r="{ref}{row}" t="b"><v>{int(value)}</v></c>')
        elif isinstance(value, int):
            parts.append(f'<c r="{ref}{row}"><v>{value}</v></c>')
        else:
            text = str(value)
            cell_style = TEXT if is_dangerous(text) else style
            space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
            parts.append(
                f'<c r="{ref}{row}"{cell_style} t="inlineStr"><is><t{space}>{xml_text(text)}</t></is></c>'
            )
    parts.append("</row>")
    return "".join(parts)


def _sheet(z: zipfile.ZipFile, name: str, widths: list[float], rows: Iterator[str]) -> None:
    """One worksheet, streamed: header row frozen, then whatever rows the iterator yields."""
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, start=1)
    )
    with z.open(name, "w") as f:
        f.write(
            f'{HEAD}<worksheet xmlns="{MAIN}" xmlns:r="{RELS}"><sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'.encode()
        )
        _write_batched(f, rows)
        f.write(b'</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" '
                b'header="0.3" footer="0.3"/></worksheet>')  # fmt: skip


def _write_batched(f: IO[bytes], rows: Iterator[str]) -> None:
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            f.write("".join(batch).encode())
            batch.clear()
    f.write("".join(batch).encode())


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
    refs = column_letters(len(layout.headers))
    done = 0

    def data_rows() -> Iterator[str]:
        nonlocal done
        yield _cells(refs, 1, layout.headers, BOLD)
        row = layout.row
        for record in records:
            if done + 2 > MAX_ROWS:
                raise ExportError(f"more responses than one Excel sheet holds ({MAX_ROWS - 1:,}); use CSV")
            yield _cells(refs, done + 2, row(record))
            done += 1
            if not done & 1023:
                progress.update(done)

    def codebook_rows() -> Iterator[str]:
        code_refs = column_letters(len(CODEBOOK_WIDTHS))
        for n, line in enumerate(layout.codebook(codebook_language), start=1):
            yield _cells(code_refs, n, line, BOLD if n == 1 else PLAIN)

    widths = [WIDTHS.get(h, 16 if h in METADATA else 18) for h in layout.headers]
    # Level 1 compresses these repetitive rows nearly as well as the default, in half the time.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        _sheet(z, "xl/worksheets/sheet1.xml", widths, data_rows())
        _sheet(z, "xl/worksheets/sheet2.xml", CODEBOOK_WIDTHS, codebook_rows())
        for name, part in _package(["responses", "codebook"]).items():
            z.writestr(name, part)
    progress.finish(done)
    return done


def _package(sheets: list[str]) -> dict[str, str]:
    """The fixed parts of a workbook: content types, relationships, the workbook, the styles."""
    sheet_types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{CONTENT}.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    sheet_list = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(sheets, start=1)
    )
    sheet_rels = "".join(
        f'<Relationship Id="rId{i}" Type="{RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    styles_id = len(sheets) + 1
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    return {
        "[Content_Types].xml": (
            f'{HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CONTENT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{CONTENT}.styles+xml"/>'
            f"{sheet_types}</Types>"
        ),
        "_rels/.rels": (
            f'{HEAD}<Relationships xmlns="{PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'{HEAD}<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><bookViews><workbookView/></bookViews>'
            f"<sheets>{sheet_list}</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{HEAD}<Relationships xmlns="{PACKAGE_RELS}">{sheet_rels}'
            f'<Relationship Id="rId{styles_id}" Type="{RELS}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'{HEAD}<styleSheet xmlns="{MAIN}">'
            f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        ),
    }
