"""`python main.py server`: run the central server, enroll and revoke kiosks, publish surveys."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kiosk.cli import Failure, UsageError
from kiosk.exports.cli import add_export_arguments

if TYPE_CHECKING:
    from sqlalchemy import Connection

DB_HELP = "SQLAlchemy URL; default: SQLite in DATA_DIR/server/server.db"


def _db_options(parser: argparse.ArgumentParser, *, inherited: bool) -> None:
    # Sub-commands accept the options too, without undoing them when given before the sub-command.
    default: Any = argparse.SUPPRESS if inherited else None
    parser.add_argument("--database", metavar="URL", default=default, help=DB_HELP)
    parser.add_argument("--data-dir", metavar="DIR", default=default)


def register(commands: argparse._SubParsersAction) -> None:
    server = commands.add_parser("server", help="run the central server (or manage its kiosks and surveys)")
    _db_options(server, inherited=False)
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8000)
    server.add_argument(
        "--workers", type=int, default=1, help="worker processes; more than one wants PostgreSQL"
    )
    server.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="trust X-Forwarded-For/-Proto from this proxy address (repeatable); "
        "by default no forwarded header is trusted",
    )
    server.set_defaults(func=run_server_command)
    sub = server.add_subparsers(dest="server_command", metavar="COMMAND")

    add = sub.add_parser("add-kiosk", help="enroll a kiosk; prints its enrollment string once")
    add.add_argument("name", metavar="NAME", help="the kiosk id, e.g. front-desk-1")
    add.add_argument("--site", metavar="SITE", help="the practice the kiosk belongs to (default main)")
    add.add_argument(
        "--url",
        metavar="URL",
        help="the server address kiosks use (default $KIOSK_SERVER_URL, else http://127.0.0.1:8000)",
    )
    _db_options(add, inherited=True)
    add.set_defaults(func=add_kiosk_command)

    revoke = sub.add_parser("revoke-kiosk", help="refuse a kiosk's token from now on")
    revoke.add_argument("name", metavar="NAME")
    _db_options(revoke, inherited=True)
    revoke.set_defaults(func=revoke_kiosk_command)

    publish = sub.add_parser("publish-survey", help="check a survey file and make it active")
    publish.add_argument("file", metavar="FILE")
    publish.add_argument("--site", metavar="SITE", help="only for this site (default: every site)")
    _db_options(publish, inherited=True)
    publish.set_defaults(func=publish_survey_command)

    poster = sub.add_parser("poster", help='print a "Tell us how we did" QR poster (PNG or PDF, A4)')
    poster.add_argument("--survey", required=True, metavar="ID", help="the survey the poster opens")
    poster.add_argument("--site", metavar="SITE", help="the practice it is for (default main)")
    poster.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.png or FILE.pdf")
    poster.add_argument(
        "--url",
        metavar="URL",
        help="the server address phones use (default $KIOSK_SERVER_URL, else http://127.0.0.1:8000)",
    )
    _db_options(poster, inherited=True)
    poster.set_defaults(func=poster_command)

    admin = sub.add_parser(
        "add-admin",
        help="create an account for the admin web; the password is read from stdin when it is not a terminal",
    )
    admin.add_argument("username", metavar="USERNAME")
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="set a new password for an existing admin (ends their sessions)",
    )
    _db_options(admin, inherited=True)
    admin.set_defaults(func=add_admin_command)

    export = sub.add_parser(
        "export",
        help="export responses from the server's database as CSV, XLSX, JSON, JSON Lines or FHIR",
        description="Export the server's responses. See docs/exports.md.",
    )
    add_export_arguments(export)
    export.add_argument("--site", metavar="SITE", help="only responses from this site")
    _db_options(export, inherited=True)
    export.set_defaults(func=export_command)


def _engine(args: argparse.Namespace) -> Any:
    """An engine on a migrated database, or a clear error (never a driver traceback)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from sync.server.db import DatabaseUrlError, make_engine, prepare_database
    from sync.server.settings import database_url

    url = database_url(args.database, args.data_dir)
    try:
        engine = make_engine(url)
        prepare_database(engine)
    except DatabaseUrlError as e:
        raise UsageError(f"--database: {e}") from None
    except DBAPIError as e:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(e.orig).strip().splitlines()[0] if e.orig else type(e).__name__
        raise Failure(f"{shown}: cannot open the database: {reason}") from None
    return engine


@contextmanager
def _transaction(args: argparse.Namespace) -> Iterator[Connection]:
    """One transaction on the server's database; a command's engine lives no longer than it."""
    engine = _engine(args)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def run_server_command(args: argparse.Namespace) -> int:
    import uvicorn

    from sync.server.admin.alerts import configure as configure_alerts
    from sync.server.app import create_app
    from sync.server.settings import (
        SETTINGS_ENV,
        Settings,
        SettingsError,
        database_url,
        server_dir,
        with_settings_file,
    )

    if not 0 < args.port < 65536:
        raise UsageError(f"--port: {args.port} is not a port number")
    if args.workers < 1:
        raise UsageError("--workers: must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _engine(args).dispose()
    settings = Settings(
        database_url=database_url(args.database, args.data_dir), trusted_proxies=tuple(args.trusted_proxy)
    )
    try:
        settings = with_settings_file(settings, server_dir(args.data_dir))
        configure_alerts(settings)  # checks the alert rules of the settings file before serving
    except SettingsError as e:
        raise UsageError(str(e)) from None
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "proxy_headers": False,
        "log_level": "info",
        "server_header": False,
    }
    if args.workers == 1:
        uvicorn.run(create_app(settings, prepare=False), **options)
    else:
        os.environ[SETTINGS_ENV] = settings.to_env()
        uvicorn.run("sync.server.app:app_from_env", factory=True, workers=args.workers, **options)
    return 0


def add_kiosk_command(args: argparse.Namespace) -> int:
    from sync.protocol import Enrollment, EnrollmentError, check_server_url
    from sync.server.auth import EnrollmentRefused, add_kiosk, check_name
    from sync.server.settings import DEFAULT_PUBLIC_URL

    try:
        url = check_server_url(args.url or os.environ.get("KIOSK_SERVER_URL") or DEFAULT_PUBLIC_URL)
        check_name(args.name, "kiosk name")
        if args.site:
            check_name(args.site, "site")
    except (EnrollmentError, EnrollmentRefused) as e:
        raise UsageError(f"add-kiosk: {e}") from None
    try:
        with _transaction(args) as connection:
            token = add_kiosk(connection, args.name, args.site)
    except EnrollmentRefused as e:
        raise Failure(f"add-kiosk: {e}") from None
    print(f"kiosk {args.name} enrolled for site {args.site or 'main'}.")
    print(
        "On the kiosk, run `python main.py enroll` with the line below. "
        "It is shown only this once; keep it secret."
    )
    print(Enrollment(url, token))
    return 0


def revoke_kiosk_command(args: argparse.Namespace) -> int:
    from sync.server.auth import EnrollmentRefused, revoke_kiosk

    try:
        with _transaction(args) as connection:
            revoke_kiosk(connection, args.name)
    except EnrollmentRefused as e:
        raise Failure(f"revoke-kiosk: {e}") from None
    print(f"kiosk {args.name} revoked: its token is refused from now on")
    return 0


def publish_survey_command(args: argparse.Namespace) -> int:
    from kiosk.survey import load_survey
    from sync.server.auth import EnrollmentRefused, check_name
    from sync.server.surveys import PublishError, publish

    survey = load_survey(args.file)
    if args.site:
        try:
            check_name(args.site, "site")
        except EnrollmentRefused as e:
            raise UsageError(f"publish-survey: {e}") from None
    try:
        with _transaction(args) as connection:
            print(publish(connection, survey, args.site))
    except PublishError as e:
        raise UsageError(f"{args.file}: {e}") from None
    return 0


def _read_password() -> str:
    """From stdin when it is not a terminal (scripts, pipes); else typed twice, unseen."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass("Password for the admin web: ")
    if getpass.getpass("The same password again: ") != first:
        raise UsageError("add-admin: the two passwords differ; nothing was changed")
    return first


def add_admin_command(args: argparse.Namespace) -> int:
    from kiosk.record import utc_now
    from sync.server.admin.accounts import AccountError, add_admin, check_password, check_username

    try:
        check_username(args.username)
        password = _read_password()
        check_password(password)
    except AccountError as e:
        raise UsageError(f"add-admin: {e}") from None
    try:
        with _transaction(args) as connection:
            print(add_admin(connection, args.username, password, utc_now(), reset=args.reset_password))
    except AccountError as e:
        raise Failure(f"add-admin: {e}") from None
    return 0


def export_command(args: argparse.Namespace) -> int:
    from kiosk.exports import ExportError, ExportOptions
    from kiosk.exports.cli import explicit_surveys, record_filter, report
    from sync.server.admin.exports import export_to_file
    from sync.server.auth import EnrollmentRefused, check_name

    chosen = record_filter(args)
    if args.site:
        try:
            check_name(args.site, "site")
        except EnrollmentRefused as e:
            raise UsageError(f"--site: {e}") from None
    extra = explicit_surveys(args)
    engine = _engine(args)
    try:
        result = export_to_file(
            engine,
            args.output,
            args.format,
            chosen,
            args.site,
            options=ExportOptions(args.labels, args.label_language),
            extra=extra,
            show_progress=True if args.progress else None,
        )
    except ExportError as e:
        raise Failure(str(e)) from None
    finally:
        engine.dispose()
    report(result, args.output)
    return 0


def poster_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sync.protocol import EnrollmentError, check_server_url
    from sync.server.db import reader
    from sync.server.models import DEFAULT_SITE
    from sync.server.poster import FORMATS, draw_poster, poster_url, published_version
    from sync.server.settings import DEFAULT_PUBLIC_URL
    from sync.server.surveys import SurveyBook

    out = Path(args.output)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"{out}: -o: name a .png or a .pdf file")
    if not out.parent.is_dir():
        raise UsageError(f"{out}: -o: the folder {out.parent} does not exist")
    try:
        base = check_server_url(args.url or os.environ.get("KIOSK_SERVER_URL") or DEFAULT_PUBLIC_URL)
    except EnrollmentError as e:
        raise UsageError(f"poster: --url: {e}") from None
    site = args.site or DEFAULT_SITE
    engine = _engine(args)
    try:
        with reader(engine).connect() as connection:
            version = published_version(connection, site, args.survey)
        if version is None:
            raise UsageError(
                f"poster: --survey {args.survey}: not published for site {site} "
                "(or the site is unknown); publish-survey it first"
            )
        survey = SurveyBook(engine).get(args.survey, version)
    finally:
        engine.dispose()
    assert survey is not None  # published_version found it
    titles = dict.fromkeys(survey.text(survey.title, lang) for lang in survey.languages[:2])
    url = poster_url(base, site, args.survey)
    try:
        draw_poster(url, out, subtitle=" · ".join(titles))
    except OSError as e:
        raise Failure(f"{out}: cannot write the poster: {e.strerror or e}") from None
    print(f"poster for {args.survey} v{version} at site {site}: {url}")
    print(f"written to {out}")
    return 0
