"""Admin accounts and sessions: add-admin, argon2id, cookies, CSRF, lockout, idle timeout, logout.

On SQLite and PostgreSQL, through the real app (in process).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from admin_helpers import PASSWORD, csrf_of, login, make_admin, rows, store
from fastapi.testclient import TestClient
from server_helpers import ApiServer, fft_record, run_main

from kiosk.record import utc_now

pytest_plugins = ["server_fixtures", "admin_fixtures"]

PAGES = ["/admin/dashboard", "/admin/alerts", "/admin/fleet", "/admin/exports", "/admin/rules"]


@pytest.fixture
def server(admin_db: str, cheap_argon2: None) -> Iterator[ApiServer]:
    server = ApiServer(admin_db)
    make_admin(server.engine)
    yield server
    server.close()


class Clock:
    """The admin web's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(server: ApiServer) -> Clock:
    clock = Clock()
    server.app.state.admin_web.clock = clock
    return clock


def is_login_page(response: Any) -> bool:
    return response.status_code in (200, 401, 403, 429) and 'action="/admin/login"' in response.text


def test_passwords_are_hashed_with_argon2id_at_a_real_cost():
    from argon2 import Type

    from sync.server.admin.accounts import PasswordHasher, _hasher

    assert isinstance(_hasher, PasswordHasher) and _hasher.type is Type.ID
    assert _hasher.memory_cost >= 19 * 1024 and _hasher.time_cost >= 2, "OWASP's minimum for argon2id"


@pytest.mark.usefixtures("cheap_argon2")
def test_add_admin_reads_stdin_and_keeps_only_an_argon2id_hash(admin_db, monkeypatch, capsys):
    def add(*args: str, stdin: str = PASSWORD + "\n") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return run_main("server", "add-admin", *args, "--database", admin_db)

    assert add("Bob") == 0
    assert capsys.readouterr().out.strip() == "admin bob created"
    (row,) = rows(ApiServer(admin_db).engine, "SELECT username, password_hash FROM admins")
    assert row.username == "bob" and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert add("bob") == 1 and "already exists" in capsys.readouterr().err
    assert add("carol", stdin="too short\n") == 2 and "at least 12" in capsys.readouterr().err
    assert add("no way!") == 2 and "username" in capsys.readouterr().err
    assert add("nobody", "--reset-password") == 1 and "no admin named" in capsys.readouterr().err

    server = ApiServer(admin_db)
    client = TestClient(server.app)
    assert login(client, "bob").url.path == "/admin/dashboard"
    assert add("bob", "--reset-password", stdin="a brand new password\n") == 0
    assert is_login_page(client.get("/admin/fleet")), "a new password ends the old sessions"
    assert login(client, "bob", "a brand new password").url.path == "/admin/dashboard"
    server.close()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    typed = iter(["first typing is long", "second one differs!"])
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    assert run_main("server", "add-admin", "dave", "--database", admin_db) == 2
    assert "differ" in capsys.readouterr().err
    typed = iter([PASSWORD, PASSWORD])
    assert run_main("server", "add-admin", "dave", "--database", admin_db) == 0


def test_session_cookie_is_httponly_samesite_and_secure_over_https(server):
    for base, secure in (("https://testserver", True), ("http://testserver", False)):
        client = TestClient(server.app, base_url=base)
        page = client.get("/admin/login")
        form = {"username": "alice", "password": PASSWORD, "csrf": csrf_of(page)}
        answer = client.post("/admin/login", data=form, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/dashboard"
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("kiosk_admin="))
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "path"} <= flags
        assert "samesite=lax" in cookie.lower() and "path=/admin" in cookie.lower()
        assert ("secure" in flags) is secure
        token = cookie.split(";")[0].split("=", 1)[1]
        assert token not in str(rows(server.engine, "SELECT * FROM admin_sessions"))


def test_logout_ends_the_session_even_for_a_copied_cookie(server):
    client = TestClient(server.app)
    login(client)
    page = client.get("/admin/dashboard")
    stolen = client.cookies.get("kiosk_admin")
    out = client.post("/admin/logout", data={"csrf": csrf_of(page)})
    assert out.url.path == "/admin/login" and "You are logged out." in out.text
    replay = TestClient(server.app, cookies={"kiosk_admin": stolen})
    assert is_login_page(replay.get("/admin/dashboard"))
    assert rows(server.engine, "SELECT count(*) AS n FROM admin_sessions")[0].n == 0


def test_forms_without_their_csrf_token_are_refused(server):
    engine = server.engine
    store(engine, [fft_record(answers={"overall": "very_poor"})])
    (alert,) = rows(engine, "SELECT id, status FROM alerts")
    client = TestClient(server.app)
    page = client.get("/admin/login")
    refused = client.post("/admin/login", data={"username": "alice", "password": PASSWORD, "csrf": "forged"})
    assert refused.status_code == 403 and "expired" in refused.text
    client.cookies.clear()
    form = {"username": "alice", "password": PASSWORD, "csrf": csrf_of(page)}
    refused = client.post("/admin/login", data=form)
    assert refused.status_code == 403, "the token must match this browser's login cookie"
    login(client)
    for csrf in ("", "wrong"):
        change = {"csrf": csrf, "version": "1", "status": "resolved", "owner": "", "note": "sneaky"}
        assert client.post(f"/admin/alerts/{alert.id}", data=change).status_code == 403
        assert client.post("/admin/logout", data={"csrf": csrf}).status_code == 403
    assert rows(engine, "SELECT status FROM alerts")[0].status == "new"
    assert rows(engine, "SELECT count(*) AS n FROM alert_notes")[0].n == 0
    assert client.get("/admin/dashboard").status_code == 200, "still logged in"


def test_repeated_failures_lock_the_name_out_for_a_while(server, clock):
    client = TestClient(server.app)
    wrong = [login(client, "alice", f"wrong password {n}") for n in range(5)]
    assert [r.status_code for r in wrong[:4]] == [401] * 4
    assert all("Wrong username or password." in r.text for r in wrong[:4])
    assert wrong[4].status_code == 429 and "Too many failed logins. Try again in 15 minutes." in wrong[4].text
    locked = login(client)
    assert locked.status_code == 429, "the right password does not help while locked out"
    other = TestClient(ApiServer(server.settings.database_url).app)
    assert login(other).status_code == 429, "every server process sees the lockout"
    ghosts = [login(client, "nobody", "x" * 12).text for _ in range(5)]
    assert "Wrong username or password." in ghosts[0] and "Too many failed logins" in ghosts[4], (
        "an unknown name behaves like a real one"
    )
    clock.advance(minutes=16)
    assert login(client).url.path == "/admin/dashboard"
    assert rows(server.engine, "SELECT count(*) AS n FROM admin_lockouts WHERE key = 'user:alice'")[0].n == 0


def test_one_address_failing_with_many_names_is_locked_out_too(server, clock):
    client = TestClient(server.app)
    for n in range(20):
        login(client, f"guess{n}", "not the password")
    assert login(client).status_code == 429
    clock.advance(minutes=16)
    assert login(client).url.path == "/admin/dashboard"


def test_an_idle_session_ends_and_activity_keeps_it(server, clock):
    client = TestClient(server.app)
    login(client)
    for _ in range(3):
        clock.advance(minutes=25)
        assert client.get("/admin/fleet").status_code == 200, "used within 30 minutes, so kept"
    clock.advance(minutes=31)
    ended = client.get("/admin/fleet")
    assert is_login_page(ended)
    assert "Your session ended after 30 minutes without activity." in ended.text
    assert rows(server.engine, "SELECT count(*) AS n FROM admin_sessions")[0].n == 0
    back = login(client, next="/admin/fleet")
    assert back.url.path == "/admin/fleet"


def test_every_page_needs_a_login_and_comes_back_after_it(server):
    client = TestClient(server.app)
    for path in PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login?next=")
    assert login(client, next="/admin/fleet").url.path == "/admin/fleet"
    client = TestClient(server.app)
    for elsewhere in ("https://evil.example/", "//evil.example/admin", "/api/v1/surveys", "/admin\\@evil"):
        assert login(client, next=elsewhere).url.path == "/admin/dashboard", elsewhere
        client.cookies.clear()
    page = TestClient(server.app).get("/admin/login")
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    schema = TestClient(server.app).get("/openapi.json").json()
    assert not [path for path in schema["paths"] if path.startswith("/admin")]
