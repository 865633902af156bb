"""Engines for SQLite (one clinic) and PostgreSQL (a group), and the start-up that migrates them.

SQLite runs in WAL mode with synchronous=FULL: a receipt says "stored", so the commit must be on
disk before it is sent. SQLite transactions start with BEGIN IMMEDIATE, so two writers queue on the
lock instead of one of them failing half-way with "database is locked"; only work done through
`reader(engine)` starts a plain (deferred) transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from sync.server.surveys import seed_builtin_surveys

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_MS = 30_000
MIGRATION_LOCK = 7_315_001
READ_ONLY = "kiosk_read_only"


class DatabaseUrlError(ValueError):
    """A --database value that is not a usable SQLAlchemy URL."""


def make_engine(url: str) -> Engine:
    usage = (
        f"{url}: not a database URL the server can use (sqlite:///FILE or postgresql+psycopg://USER@HOST/DB)"
    )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(usage) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(usage)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseUrlError(f"{url}: the server needs a SQLite file, not memory")
        engine = create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False}
        )
        _tune_sqlite(engine)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except (ArgumentError, NoSuchModuleError, ImportError):
        raise DatabaseUrlError(usage) from None


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def reader(engine: Engine) -> Engine:
    """The same engine for work that only reads: on SQLite it need not queue behind writers."""
    return engine.execution_options(**{READ_ONLY: True})


def prepare_database(engine: Engine) -> None:
    """Migrate to the newest schema and, on a fresh database, publish the built-in surveys.

    Several processes may start at once against one PostgreSQL; an advisory lock lets one of
    them migrate while the others wait and then find nothing left to do.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
        seed_builtin_surveys(connection)
