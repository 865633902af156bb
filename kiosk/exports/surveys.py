"""Where the kiosk finds the survey definitions its responses were given under.

Records name (survey id, version); the columns and labels of an export come from exactly that
version. The kiosk knows the built-in templates, the survey its config names, the definitions kept
in `<data dir>/surveys/`; the command line adds files given with --survey-file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kiosk.survey import (
    Survey,
    SurveyError,
    builtin_survey,
    builtin_survey_ids,
    configured_survey,
    load_survey,
)

SURVEYS_FOLDER = "surveys"


def local_surveys(
    data_dir: Path,
    *,
    configured: str | None = None,
    warn: Callable[[str], None] = lambda line: None,
) -> dict[tuple[str, int], Survey]:
    """Every definition the kiosk can read, by (id, version); later sources win.

    A broken definition is reported through `warn` and skipped: it must not stop an export of
    responses given under other surveys.
    """
    found: dict[tuple[str, int], Survey] = {}

    def add(load: Callable[[], Survey]) -> None:
        try:
            survey = load()
        except SurveyError as e:
            for problem in e.problems:
                warn(f"warning: {problem.line(e.source)} (definition skipped)")
            return
        found[survey.key] = survey

    for survey_id in builtin_survey_ids():
        add(lambda survey_id=survey_id: builtin_survey(survey_id))
    if configured:
        add(lambda: configured_survey(configured, Path(data_dir)))
    folder = Path(data_dir) / SURVEYS_FOLDER
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            add(lambda path=path: load_survey(path))
    return found
