"""Shared by the phone-page, merge and poster tests: a server with a kiosk, minted links, and a
small form-filling browser on the test client. A test module makes its fixture with
`make_phone_rig(database_url)` (the `database_url` fixture is in server_fixtures).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from server_helpers import ApiServer
from sqlalchemy import text

from kiosk.credentials import derive_handoff_key
from kiosk.handoff import mint
from kiosk.record import iso, new_response_id, utc_now
from kiosk.survey import Survey, builtin_survey
from sync.protocol import RESPONSES_PATH, parse_receipts
from sync.server.app import create_app
from sync.server.settings import Settings

KIOSK = "desk-1"


@dataclass
class PhoneRig:
    server: ApiServer
    token: str  # the kiosk's API token

    def link(
        self,
        answers: dict[str, Any],
        *,
        text_answers: dict[str, str] | None = None,
        survey_id: str = "post-visit",
        language: str = "en",
        minutes: int = 30,
        now: datetime | None = None,
        started_at: datetime | None = None,
        response_id: str | None = None,
        token: str | None = None,
        kiosk_id: str = KIOSK,
        survey: Survey | None = None,
    ) -> Handoff:
        """Mint a link as the kiosk does; `text_answers` were typed on the kiosk (the token marks them)."""
        now = now or utc_now()
        started = started_at or now - timedelta(minutes=2)
        rid = response_id or new_response_id()
        every = {**answers, **(text_answers or {})}
        survey = survey or builtin_survey(survey_id)
        minted = mint(
            survey,
            response_id=rid,
            language=language,
            answers=every,
            kiosk_id=kiosk_id,
            key=derive_handoff_key(token or self.token),
            started_at=started,
            now=now,
            minutes=minutes,
        )
        record = {
            "id": rid,
            "survey_id": survey.id,
            "survey_version": survey.version,
            "kiosk_id": kiosk_id,
            "channel": "kiosk",
            "language": language,
            "started_at": iso(started),
            "submitted_at": iso(now),
            "status": "handed_off",
            "answers": every,
        }
        return Handoff(rid, minted, record)

    def sync(self, *records: dict[str, Any]) -> dict[str, Any]:
        """POST records as the kiosk's sync does; the receipts as the client reads them, by id."""
        client = TestClient(self.server.app)
        response = client.post(
            RESPONSES_PATH,
            json={"responses": list(records)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        return parse_receipts(response.json(), [r["id"] for r in records])

    def responses(self) -> list[Any]:
        return self.server.rows("SELECT * FROM responses ORDER BY id")


@dataclass(frozen=True)
class Handoff:
    response_id: str
    token: str
    kiosk_record: dict[str, Any]

    @property
    def path(self) -> str:
        return f"/p/{self.token}"


class MigratedServer(ApiServer):
    """An ApiServer on a database the fixtures have already migrated: no migration check per test."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.settings = Settings(database_url=url, **settings)
        self.app = create_app(self.settings, prepare=False)
        self.engine = self.app.state.engine


def make_phone_rig(database_url: str) -> Iterator[PhoneRig]:
    server = MigratedServer(database_url)
    if server.engine.dialect.name == "postgresql":
        # The shared fixture empties the original tables; these are the phone pages' own.
        with server.engine.begin() as connection:
            connection.execute(text("TRUNCATE phone_sessions, handoff_parts"))
    token = server.enroll(KIOSK)
    yield PhoneRig(server, token)
    server.close()


class Phone:
    """A browser on the test client: it keeps cookies and fills in the form it was last shown."""

    def __init__(self, app: Any, address: str = "testclient") -> None:
        self.client = TestClient(app, client=(address, 50000))
        self.page: Any = None
        self.path = ""

    def open(self, path: str, **params: str) -> Any:
        self.path = path
        self.page = self.client.get(path, params=params)
        return self.page

    def start(self, lang: str | None = None) -> Any:
        data = {"step": "start", "lang": lang or self.lang}
        self.page = self.client.post(self.path, data=data)
        return self.page

    def answer(self, value: Any = None, *, action: str = "next", **extra: Any) -> Any:
        """Answer the question on the page and press Next (or Back); lists tick several boxes."""
        data: dict[str, Any] = {
            "csrf": self.field("csrf"),
            "question": self.question,
            "lang": self.lang,
            "action": action,
            **extra,
        }
        if value is not None:
            data["answer"] = value
        self.page = self.client.post(self.path, data=data)
        return self.page

    def field(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.page.text)
        assert match, f"no {name} field on the page:\n{self.page.text[:2000]}"
        return html.unescape(match.group(1))

    @property
    def question(self) -> str | None:
        match = re.search(r'name="question" value="([^"]*)"', self.page.text)
        return match.group(1) if match else None

    @property
    def heading(self) -> str:
        match = re.search(r"<h1[^>]*>(.*?)</h1>", self.page.text, re.S)
        assert match, self.page.text[:2000]
        return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()

    @property
    def lang(self) -> str:
        match = re.search(r'<html lang="([^"]+)"', self.page.text)
        assert match
        return match.group(1)
