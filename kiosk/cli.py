"""Command-line handlers for the core: survey files. Heavy imports stay inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.survey import SurveyError, check_survey, read_survey_file


class UsageError(Exception):
    """Input the user got wrong: printed as it is, exit 2."""


class Failure(Exception):
    """The command could not do its job: printed as it is, exit 1."""


def register(commands: argparse._SubParsersAction) -> None:
    survey = commands.add_parser("survey", help="check survey files and convert them to and from FHIR")
    survey_commands = survey.add_subparsers(dest="survey_command", metavar="COMMAND", required=True)

    check = survey_commands.add_parser("check", help="check survey files; exit 2 listing every problem")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=survey_check_command)

    to_fhir = survey_commands.add_parser("to-fhir", help="write a survey as a FHIR R4 Questionnaire")
    to_fhir.add_argument("file", metavar="SURVEY.json")
    to_fhir.add_argument("-o", "--output", required=True, metavar="QUESTIONNAIRE.json")
    to_fhir.set_defaults(func=survey_to_fhir_command)

    from_fhir = survey_commands.add_parser("from-fhir", help="read a FHIR R4 Questionnaire as a survey")
    from_fhir.add_argument("file", metavar="QUESTIONNAIRE.json")
    from_fhir.add_argument("-o", "--output", required=True, metavar="SURVEY.json")
    from_fhir.set_defaults(func=survey_from_fhir_command)


def survey_check_command(args: argparse.Namespace) -> int:
    bad = 0
    for name in args.files:
        data, problems = read_survey_file(name)
        if not problems:
            problems = check_survey(data)
        for problem in problems:
            print(problem.line(name))
        bad += bool(problems)
    if bad:
        return 2
    print(f"{len(args.files)} survey file(s) checked: all valid")
    return 0


def _read_valid(name: str) -> Any:
    data, problems = read_survey_file(name)
    if not problems:
        problems = check_survey(data)
    if problems:
        raise UsageError("\n".join(p.line(name) for p in problems))
    return data


def _write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as e:
        raise Failure(f"{path}: cannot write: {e.strerror or e}") from None


def survey_to_fhir_command(args: argparse.Namespace) -> int:
    from kiosk.fhir import survey_to_questionnaire

    _write_json(args.output, survey_to_questionnaire(_read_valid(args.file)))
    return 0


def survey_from_fhir_command(args: argparse.Namespace) -> int:
    from kiosk.fhir import questionnaire_to_survey

    data, problems = read_survey_file(args.file)
    if problems:
        raise UsageError("\n".join(p.line(args.file) for p in problems))
    try:
        survey = questionnaire_to_survey(data)
    except SurveyError as e:
        raise UsageError("\n".join(p.line(args.file) for p in e.problems)) from None
    _write_json(args.output, survey)
    return 0


def main_guard(func: Any, args: argparse.Namespace) -> int:
    """Run a handler; user mistakes exit 2 and failures exit 1, each with its message, never a traceback."""
    from kiosk.config import ConfigError

    try:
        return int(func(args) or 0)
    except (UsageError, SurveyError, ConfigError) as e:
        print(str(e), file=sys.stderr)
        return 2
    except Failure as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
