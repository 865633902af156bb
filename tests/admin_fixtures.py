"""Fixtures of the admin web tests; a test module loads them with
`pytest_plugins = ["server_fixtures", "admin_fixtures"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from admin_helpers import ADMIN_TABLES, SmtpSink
from server_helpers import require_postgres
from sqlalchemy import text

from sync.server.db import make_engine


@pytest.fixture
def admin_db(database_url: str) -> str:
    """`database_url` with the admin web's own tables emptied too (PostgreSQL keeps them)."""
    if database_url.startswith("postgresql"):
        require_postgres()
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {ADMIN_TABLES} CASCADE"))
        engine.dispose()
    return database_url


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2id at its lowest cost, so that tests of many logins stay quick; the real parameters
    are checked on their own (test_admin_auth.py)."""
    from argon2 import PasswordHasher, Type

    from sync.server.admin import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    accounts._dummy_hash.cache_clear()
    yield
    accounts._dummy_hash.cache_clear()
