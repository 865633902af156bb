"""Shared by the admin web tests: accounts, logged-in clients, stored responses, an SMTP sink.

The fixtures built on these are in admin_fixtures.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from server_helpers import free_port
from sqlalchemy import Engine, insert, text

from kiosk.record import canonical, parse_iso, utc_now
from sync.server.admin.accounts import add_admin
from sync.server.admin.alerts import on_responses_stored
from sync.server.models import Response

PASSWORD = "correct horse battery staple"
ADMIN_TABLES = "alert_rules, admin_lockouts, admin_sessions, admins"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_admin(engine: Engine, username: str = "alice", password: str = PASSWORD) -> None:
    with engine.begin() as connection:
        add_admin(connection, username, password, utc_now(), reset=False)


def store(
    engine: Engine,
    records: Iterable[dict[str, Any]],
    site: str = "main",
    kiosk_id: str | None = "desk-1",
    *,
    alerts: bool = True,
) -> None:
    """Store records as ingest does (same columns, same canonical payload), and raise their alerts.

    Crafted records that the API would refuse (a phone channel, an answer the survey lacks) get in
    this way, as a restored or merged database might hold them.
    """
    rows, stored = [], []
    for record in records:
        payload = canonical(record)
        rows.append(
            {
                "id": record["id"],
                "survey_id": record["survey_id"],
                "survey_version": record["survey_version"],
                "kiosk_id": kiosk_id,
                "site": site,
                "channel": record["channel"],
                "status": record["status"],
                "submitted_at": parse_iso(record["submitted_at"]),
                "received_at": utc_now(),
                "digest": hashlib.sha256(payload).hexdigest(),
                "payload": payload.decode(),
            }
        )
        stored.append(record)
    with engine.begin() as connection:
        connection.execute(insert(Response), rows)
        if alerts:
            on_responses_stored(connection, stored)


def login(client: TestClient, username: str = "alice", password: str = PASSWORD, next: str = "") -> Any:
    """Log in through the form, as a browser does; returns the last response."""
    page = client.get("/admin/login")
    token = CSRF.search(page.text)
    assert token is not None, page.text[:500]
    form = {"username": username, "password": password, "csrf": token.group(1)}
    if next:
        form["next"] = next
    return client.post("/admin/login", data=form)


def csrf_of(page: Any) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), params))


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)


class SmtpSink:
    """A local SMTP server (aiosmtpd) on loopback that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Any] = []
        self.port = free_port()
        self.refuse = False
        self._arrived = threading.Condition()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 try again later"
        with self._arrived:
            self.envelopes.append(envelope)
            self.messages.append(message_from_bytes(envelope.content))
            self._arrived.notify_all()
        await asyncio.sleep(0)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.messages)} message(s) arrived, {count} expected")
                self._arrived.wait(left)
            return list(self.messages)

    def settings(self) -> dict[str, Any]:
        """The settings.json keys that point the server at this sink."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": "none",
            "smtp_from": "feedback@clinic.example",
            "smtp_to": ["manager@clinic.example"],
        }

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def write_settings(data_dir: Path, **values: Any) -> None:
    folder = data_dir / "server"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(values), encoding="utf-8")
