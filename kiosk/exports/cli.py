"""`python main.py export`: the kiosk's own responses to a file, for an admin or a USB stick."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kiosk.cli import Failure, UsageError
from kiosk.exports.filters import FilterError, RecordFilter
from kiosk.exports.job import FORMATS, ExportOptions, ExportResult
from kiosk.record import STATUSES
from kiosk.survey import Survey, load_survey


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every export command shares; the server adds --site and its database."""
    parser.add_argument("--format", required=True, choices=FORMATS, help="file format")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write")
    parser.add_argument("--since", metavar="DATE", help="submitted on or after (YYYY-MM-DD or ISO time, UTC)")
    parser.add_argument("--until", metavar="DATE", help="submitted on or before; a date means that whole day")
    parser.add_argument("--survey", metavar="ID", help="only this survey id")
    parser.add_argument(
        "--status", action="append", choices=STATUSES, help="only this status (repeat for several)"
    )
    parser.add_argument("--labels", action="store_true", help="answer labels instead of codes (CSV, XLSX)")
    parser.add_argument(
        "--label-language",
        metavar="CODE",
        help="language of labels and the codebook (default: each response's own language)",
    )
    parser.add_argument(
        "--survey-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a survey definition to read columns and labels from, e.g. an older version",
    )
    parser.add_argument(
        "--progress", action="store_true", help="show the progress bar even when stderr is not a terminal"
    )


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="export this kiosk's responses as CSV, XLSX, JSON, JSON Lines or FHIR",
        description="Export this kiosk's stored responses. See docs/exports.md.",
    )
    export.add_argument("--data-dir", metavar="DIR", help="the kiosk's data folder")
    add_export_arguments(export)
    export.set_defaults(func=export_command)


def record_filter(args: argparse.Namespace) -> RecordFilter:
    try:
        return RecordFilter.parse(args.since, args.until, args.survey, args.status)
    except FilterError as e:
        raise UsageError(str(e)) from None


def explicit_surveys(args: argparse.Namespace) -> list[Survey]:
    """--survey-file definitions; a broken one is a usage error, since the admin asked for it."""
    return [load_survey(name) for name in args.survey_file]


def report(result: ExportResult, output: str) -> None:
    for survey_id, version in result.missing_surveys:
        print(
            f"warning: survey {survey_id} v{version}: definition not found; its answers are "
            "exported as codes (add it with --survey-file)",
            file=sys.stderr,
        )
    print(f"exported {result.count} response(s) to {output}")


def export_command(args: argparse.Namespace) -> int:
    from kiosk.config import ConfigError, KioskConfig, data_dir_from
    from kiosk.exports.job import export_file
    from kiosk.exports.surveys import local_surveys
    from kiosk.exports.table import ExportError
    from kiosk.store import ResponseStore, StoreError

    chosen = record_filter(args)
    data_dir = data_dir_from(args.data_dir)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir}: no such data folder (give --data-dir or set KIOSK_DATA_DIR)")
    extra = explicit_surveys(args)
    try:
        configured: str | None = KioskConfig.load(data_dir).survey
    except ConfigError as e:
        print(f"warning: {e} (exporting with the built-in surveys)", file=sys.stderr)
        configured = None

    def warn(line: str) -> None:
        print(line, file=sys.stderr)

    surveys = local_surveys(data_dir, configured=configured, warn=warn)
    surveys.update((s.key, s) for s in extra)
    try:
        store = ResponseStore(data_dir)
    except StoreError as e:
        raise Failure(f"{e}") from None
    try:
        unfiltered = chosen == RecordFilter()

        def open_records() -> Iterator[Mapping[str, Any]]:
            return chosen.apply(store.iter_records(**chosen.store_arguments()))

        result = export_file(
            Path(args.output),
            args.format,
            open_records,
            lambda survey_id, version: surveys.get((survey_id, version)),
            total=store.count() if unfiltered else None,
            options=ExportOptions(args.labels, args.label_language),
            show_progress=True if args.progress else None,
        )
    except (ExportError, StoreError) as e:
        raise Failure(str(e)) from None
    finally:
        store.close()
    report(result, args.output)
    return 0
