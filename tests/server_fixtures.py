"""Fixtures of the server and sync tests; a test module loads them with
`pytest_plugins = ["server_fixtures"]`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import ApiServer, postgres_schema, require_postgres
from sqlalchemy import text

from sync.server.db import make_engine, prepare_database
from sync.server.surveys import seed_builtin_surveys


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """One migrated schema for the session; `database_url` empties it before each test."""
    with postgres_schema() as url:
        engine = make_engine(url)
        prepare_database(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies: migrating afresh each time is slower."""
    path = tmp_path_factory.mktemp("template") / "server.db"
    engine = make_engine(f"sqlite:///{path}")
    prepare_database(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every API test runs on both databases, each starting empty but for the built-in surveys."""
    if request.param == "sqlite":
        path = tmp_path / "server.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    require_postgres()
    url = request.getfixturevalue("postgres_session_url")
    engine = make_engine(url)
    with engine.begin() as connection:
        tables = "responses, publications, surveys, kiosks, phone_sessions, handoff_parts"
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        seed_builtin_surveys(connection)
    engine.dispose()
    return url


@pytest.fixture
def api_server(database_url: str) -> Iterator[ApiServer]:
    server = ApiServer(database_url)
    yield server
    server.close()
