"""One export from start to finish: plan the columns, write the file atomically, show progress.

The kiosk CLI, the server CLI and the admin web all come through here with their own records and
their own way of finding surveys; only where the records come from differs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from kiosk.exports.progress import Progress, wanted
from kiosk.exports.table import ExportError, Layout, Resolver, Scan, SurveyBook, SurveyKey, scan
from kiosk.storage import fsync_dir

FORMATS = ("csv", "xlsx", "json", "jsonl", "fhir")
TABULAR = ("csv", "xlsx")
FILE_MODE = 0o600  # answers are personal data; the admin who ran the export owns the file

Records = Iterable[Mapping[str, Any]]
OpenRecords = Callable[[], Records]


@dataclass(frozen=True, slots=True)
class ExportOptions:
    labels: bool = False
    label_language: str | None = None


@dataclass
class ExportResult:
    count: int
    missing_surveys: list[SurveyKey] = field(default_factory=list)


def write_export(
    fmt: str,
    out: BinaryIO,
    records: Records,
    surveys: Resolver | SurveyBook,
    *,
    plan: Scan | None = None,
    options: ExportOptions = ExportOptions(),
    progress: Progress | None = None,
) -> ExportResult:
    """Stream `records` to `out` in `fmt`; CSV and XLSX also need `plan`, a first pass's Scan.

    A table's columns must be known before its first row, hence the plan; JSON and FHIR need
    none, so they read the records once.
    """
    book = surveys if isinstance(surveys, SurveyBook) else SurveyBook(surveys)
    progress = progress or Progress("", enabled=False)
    if fmt in TABULAR:
        if plan is None:
            raise ValueError(f"a {fmt} export needs a plan: scan() the records first")
        layout = Layout(plan, book, labels=options.labels, label_language=options.label_language)
        if fmt == "csv":
            from kiosk.exports.to_csv import write_csv

            count = write_csv(out, records, layout, progress)
        else:
            from kiosk.exports.to_xlsx import write_xlsx

            count = write_xlsx(out, records, layout, progress, options.label_language)
    elif fmt in ("json", "jsonl"):
        from kiosk.exports.to_json import write_json, write_jsonl

        count = (write_json if fmt == "json" else write_jsonl)(out, records, progress)
    elif fmt == "fhir":
        from kiosk.exports.to_fhir import write_fhir

        count = write_fhir(out, records, book, progress)
    else:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    return ExportResult(count, book.missing)


def export_file(
    path: str | os.PathLike[str],
    fmt: str,
    open_records: OpenRecords,
    surveys: Resolver | SurveyBook,
    *,
    total: int | None = None,
    options: ExportOptions = ExportOptions(),
    stream: TextIO | None = None,
    show_progress: bool | None = None,
    plan: Scan | None = None,
) -> ExportResult:
    """Export to `path`, which appears only once complete: a failure leaves no half file.

    `open_records` opens a fresh stream of the records each time it is called: CSV and XLSX read
    them twice, once to plan the columns and once to write. `total`, when the caller knows it
    cheaply, lets the bar show a percentage for JSON and FHIR too. A caller that can plan the
    columns more cheaply than a first pass (a database, by SQL) passes its own `plan`.
    """
    stream = stream if stream is not None else sys.stderr
    enabled = wanted(stream) if show_progress is None else show_progress
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt in TABULAR and plan is not None:
        total = plan.total
    elif fmt in TABULAR:
        reading = Progress("reading", total, stream=stream, enabled=enabled)
        plan = scan(open_records(), reading.update)
        reading.finish(plan.total)
        total = plan.total
    writing = Progress(f"exporting {fmt}", total, stream=stream, enabled=enabled)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except OSError as e:
        raise ExportError(f"{target}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            result = write_export(
                fmt, out, open_records(), surveys, plan=plan, options=options, progress=writing
            )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ExportError(f"{target}: cannot write: {e.strerror or e}") from None
        raise
    with contextlib.suppress(OSError):  # durable name: a USB stick may be pulled out right after
        fsync_dir(target.parent)
    return result
