"""`python main.py server`: run the central server, enroll and revoke kiosks, publish surveys."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from kiosk.cli import Failure, UsageError

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


def run_server_command(args: argparse.Namespace) -> int:
    import uvicorn

    from sync.server.app import create_app
    from sync.server.settings import SETTINGS_ENV, Settings, database_url

    if not 0 < args.port < 65536:
        raise UsageError(f"--port: {args.port} is not a port number")
    if args.workers < 1:
        raise UsageError("--workers: must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _engine(args).dispose()
    settings = Settings(
        database_url=database_url(args.database, args.data_dir), trusted_proxies=tuple(args.trusted_proxy)
    )
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
    engine = _engine(args)
    try:
        with engine.begin() as connection:
            token = add_kiosk(connection, args.name, args.site)
    except EnrollmentRefused as e:
        raise Failure(f"add-kiosk: {e}") from None
    finally:
        engine.dispose()
    print(f"kiosk {args.name} enrolled for site {args.site or 'main'}.")
    print(
        "On the kiosk, run `python main.py enroll` with the line below. "
        "It is shown only this once; keep it secret."
    )
    print(Enrollment(url, token))
    return 0


def revoke_kiosk_command(args: argparse.Namespace) -> int:
    from sync.server.auth import EnrollmentRefused, revoke_kiosk

    engine = _engine(args)
    try:
        with engine.begin() as connection:
            revoke_kiosk(connection, args.name)
    except EnrollmentRefused as e:
        raise Failure(f"revoke-kiosk: {e}") from None
    finally:
        engine.dispose()
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
    engine = _engine(args)
    try:
        with engine.begin() as connection:
            print(publish(connection, survey, args.site))
    except PublishError as e:
        raise UsageError(f"{args.file}: {e}") from None
    finally:
        engine.dispose()
    return 0
