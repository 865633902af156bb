"""`python main.py kiosk` and `python main.py preview`. Kivy is imported only once a command runs,
after `screens.boot` has set it up, so the other commands never open a window.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from kiosk.cli import Failure, UsageError
from kiosk.config import KioskConfig, data_dir_from
from kiosk.i18n import offered_languages
from kiosk.survey import configured_survey


def register(commands: argparse._SubParsersAction) -> None:
    kiosk = commands.add_parser("kiosk", help="start the kiosk, fullscreen (the default command)")
    kiosk.add_argument("--data-dir", metavar="DIR", help="where the configuration and the answers live")
    kiosk.add_argument(
        "--windowed", action="store_true", help="development: a normal window, cursor, Escape quits"
    )
    kiosk.set_defaults(func=kiosk_command)

    preview = commands.add_parser("preview", help="render every screen of a survey to PNG files")
    preview.add_argument("--data-dir", metavar="DIR", help="read the clinic's configuration from here")
    preview.add_argument("--survey", metavar="ID_OR_FILE", help="default: the configured survey")
    preview.add_argument("--lang", metavar="CODE", help="default: every language the survey offers")
    preview.add_argument("--out", metavar="DIR", required=True, help="folder for the PNG files")
    preview.set_defaults(func=preview_command)


def resolve_logo(config: KioskConfig, data_dir: Path) -> Path | None:
    """The clinic's logo, if it is a readable file; a missing logo shows the clinic's name alone."""
    if not config.logo:
        return None
    path = Path(config.logo)
    path = path if path.is_absolute() else data_dir / path
    return path if path.is_file() else None


def kiosk_command(args: argparse.Namespace) -> int:
    data_dir = data_dir_from(args.data_dir)
    config = KioskConfig.load(data_dir)
    survey = configured_survey(config.survey, data_dir)
    from screens.boot import prepare_kivy

    prepare_kivy(data_dir / "kivy", windowed=args.windowed)
    from kiosk.store import ResponseStore, StoreError

    try:
        store = ResponseStore(data_dir, retention_days=config.retention_days)
    except (StoreError, OSError) as e:
        raise Failure(f"{data_dir}: cannot open the response store: {e}") from None
    from screens.app import run_kiosk

    try:
        run_kiosk(store, config, survey, data_dir, logo=resolve_logo(config, data_dir))
    finally:
        store.close()
    return 0


def preview_command(args: argparse.Namespace) -> int:
    data_dir = data_dir_from(args.data_dir)
    config = KioskConfig.load(data_dir)
    survey = configured_survey(args.survey or config.survey, data_dir)
    offered = offered_languages(survey.languages)
    if args.lang and args.lang not in offered:
        raise UsageError(f"--lang: {survey.id} is offered in {', '.join(offered)}, not {args.lang!r}")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Failure(f"{out}: cannot create the folder: {e.strerror or e}") from None
    from screens.boot import prepare_kivy

    with tempfile.TemporaryDirectory(prefix="kiosk-preview-") as kivy_home:
        prepare_kivy(Path(kivy_home), windowed=True, offscreen=True, max_fps=0)
        from screens.preview import render_preview

        files = render_preview(
            survey, config, [args.lang] if args.lang else offered, out, logo=resolve_logo(config, data_dir)
        )
    for path in files:
        print(path)
    return 0
