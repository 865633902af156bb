"""Exports of responses as CSV, XLSX, JSON, JSON Lines and FHIR, for the kiosk and the server.

Writers take an iterable of records (the contract's dicts, oldest first, streamed) and a resolver
`(survey_id, version) -> Survey | None`; they never load all records at once. See docs/exports.md.
"""

from kiosk.exports.filters import FilterError, RecordFilter, parse_moment
from kiosk.exports.job import (
    FORMATS,
    ExportOptions,
    ExportResult,
    export_file,
    write_export,
)
from kiosk.exports.progress import Progress
from kiosk.exports.table import ExportError, Layout, Resolver, Scan, SurveyBook, neutralise, scan

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "FilterError",
    "Layout",
    "Progress",
    "RecordFilter",
    "Resolver",
    "Scan",
    "SurveyBook",
    "export_file",
    "neutralise",
    "parse_moment",
    "scan",
    "write_export",
]
