"""Low-score alerts: the rules, the due time, the hook at ingest, the queue's workflow, and e-mail
through a local SMTP sink. The database tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from admin_helpers import SmtpSink, at, csrf_of, login, make_admin, rows, store, write_settings
from fastapi.testclient import TestClient
from server_helpers import ApiServer, fft_record, post_visit_record
from sqlalchemy import select

from kiosk.record import utc_now
from kiosk.survey import builtin_survey
from sync.server.admin.accounts import as_utc
from sync.server.admin.alerts import AlertError, AlertRules, configure, due_time, parse_rule, rules_from_json
from sync.server.mail import send_due
from sync.server.models import Alert
from sync.server.settings import Settings, SettingsError, with_settings_file

pytest_plugins = ["server_fixtures", "admin_fixtures"]

UTC = ZoneInfo("UTC")
LONDON = ZoneInfo("Europe/London")
FFT = builtin_survey("fft")
POST_VISIT = builtin_survey("post-visit")
SECRET_WORDS = "The receptionist Mrs Jones was cold to my mother"


# -- rules and due times (no database) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("created", "zone", "due"),
    [
        ("2026-11-23T10:00:00Z", UTC, "2026-11-25T10:00:00Z"),  # Monday -> Wednesday
        ("2026-11-26T15:00:00Z", UTC, "2026-11-30T15:00:00Z"),  # Thursday -> Monday
        ("2026-11-27T15:00:00Z", UTC, "2026-12-01T15:00:00Z"),  # Friday -> Tuesday
        ("2026-11-28T10:00:00Z", UTC, "2026-12-02T00:00:00Z"),  # Saturday: the clock starts Monday
        ("2026-11-29T23:59:00Z", UTC, "2026-12-02T00:00:00Z"),  # Sunday
        ("2026-07-24T23:30:00Z", LONDON, "2026-07-28T23:00:00Z"),  # Saturday 00:30 in London (BST)
        ("2026-12-31T12:00:00Z", LONDON, "2027-01-04T12:00:00Z"),  # over New Year's weekend
    ],
)
def test_due_time_counts_two_working_days_skipping_weekends(created, zone, due):
    assert due_time(at(created), 2, zone) == at(due)


def test_half_a_working_day_and_a_longer_service_level():
    assert due_time(at("2026-11-27T20:00:00Z"), 0.5, UTC) == at("2026-11-30T08:00:00Z")
    assert due_time(at("2026-11-23T09:00:00Z"), 5, UTC) == at("2026-11-30T09:00:00Z")


def test_the_survey_rule_own_rule_and_keywords_each_raise_an_alert():
    plain = AlertRules()
    assert plain.reasons(FFT, {"overall": "very_poor"}) == ["survey_rule"]
    assert plain.reasons(FFT, {"overall": "poor", "why": "slow"}) == ["survey_rule"]
    assert plain.reasons(FFT, {"overall": "neither"}) == []
    assert plain.reasons(FFT, {"overall": "dont_know"}) == []
    scores = {"overall": 4, "front_desk": "definitely", "wait": "under_5"}
    assert plain.reasons(POST_VISIT, {**scores, "recommend": 6}) == ["survey_rule"], "0-10: six or less"
    assert plain.reasons(POST_VISIT, {**scores, "recommend": 7}) == []

    own = rules_from_json(
        {"use_survey_rule": False, "rule": {"question": "wait", "equals": "over_30"}}, "settings.json"
    )
    assert own.reasons(POST_VISIT, {**scores, "recommend": 2}) == [], "the survey's rule is switched off"
    assert own.reasons(POST_VISIT, {**scores, "wait": "over_30", "recommend": 9}) == ["own_rule"]

    words = AlertRules(keywords=("rude", "dirty toilet", "粗鲁", "ÉCHEC"))
    assert words.reasons(FFT, {"overall": "good", "why": "The nurse was RUDE."}) == ["keyword:rude"]
    assert words.reasons(FFT, {"overall": "good", "why": "a prudent, rudely early"}) == []
    assert words.reasons(FFT, {"overall": "good", "why": "the dirty   toilet"}) == []
    assert words.reasons(FFT, {"overall": "good", "why": "Dirty toilet!"}) == ["keyword:dirty toilet"]
    assert words.reasons(FFT, {"overall": "good", "why": "护士很粗鲁"}) == ["keyword:粗鲁"]
    assert words.reasons(FFT, {"overall": "good", "why": "un échec total"}) == ["keyword:échec"]
    assert words.reasons(FFT, {"overall": "good", "why": "déchec"}) == [], "a word, not part of one"
    contact = {"contact_ok": True, "contact_details": "rude@example.org", "recommend": 9, **scores}
    assert words.reasons(POST_VISIT, contact) == [], "contact details are not feedback"
    assert AlertRules(enabled=False).reasons(FFT, {"overall": "very_poor", "why": "rude"}) == []


def test_a_rule_that_cannot_work_is_refused_with_the_reason(tmp_path):
    with pytest.raises(AlertError, match="rule"):
        parse_rule({"question": "nope", "equals": 1}, FFT)
    with pytest.raises(AlertError, match="rule"):
        parse_rule({"question": "overall", "lte": 2}, FFT)  # a choice has no order
    with pytest.raises(AlertError, match="an object"):
        parse_rule(["overall"], FFT)
    assert parse_rule({"any": [{"question": "recommend", "lte": 6}]}, POST_VISIT).form == "any"
    with pytest.raises(AlertError, match="keywords"):
        rules_from_json({"keywords": "rude"}, "settings.json")
    write_settings(tmp_path, alert_rules={"fft": {"keywords": ["rude"], "color": "red"}})
    settings = with_settings_file(Settings("sqlite:///x.db"), tmp_path / "server")
    with pytest.raises(SettingsError, match=r"alert_rules\.fft: color"):
        configure(settings)
    configure(Settings("sqlite:///x.db"))
    for bad, where in (
        ({"smtp_port": "25"}, "smtp_port"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"smtp_security": "maybe"}, "smtp_security"),
        ({"database_url": "x"}, "database_url: not a setting"),
    ):
        write_settings(tmp_path, **bad)
        with pytest.raises(SettingsError, match=where):
            with_settings_file(Settings("sqlite:///x.db"), tmp_path / "server")


# -- the hook, the queue and e-mail (SQLite and PostgreSQL) ---------------------------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def server(admin_db: str, sink: SmtpSink, cheap_argon2: None) -> Iterator[ApiServer]:
    server = ApiServer(
        admin_db,
        public_url="https://feedback.example.org",
        alert_rules={"fft": {"keywords": ["shouted"]}},
        **{k: tuple(v) if isinstance(v, list) else v for k, v in sink.settings().items()},
    )
    make_admin(server.engine)
    make_admin(server.engine, "bob")
    yield server
    server.close()


def post(client: TestClient, token: str, records: list[dict[str, Any]]) -> list[str]:
    answer = client.post(
        "/api/v1/responses", json={"responses": records}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return [r["status"] for r in answer.json()["receipts"]]


def test_ingest_raises_one_alert_per_low_score_response(server, caplog):
    token = server.enroll("desk-1", site="north")
    bad = fft_record(answers={"overall": "very_poor", "why": SECRET_WORDS})
    keyword = fft_record(answers={"overall": "good", "why": "The doctor SHOUTED at me"})
    called = post_visit_record(
        n=3,
        answers={
            "overall": 2,
            "front_desk": "no",
            "wait": "over_30",
            "recommend": 1,
            "contact_ok": True,
            "contact_details": "07700 900123",
        },
    )
    fine = [
        fft_record(),
        post_visit_record(
            n=9, answers={"overall": 5, "front_desk": "definitely", "wait": "under_5", "recommend": 10}
        ),
    ]
    caplog.set_level(logging.INFO)
    with TestClient(server.app) as client:
        assert post(client, token, [bad, keyword, called, *fine]) == ["created"] * 5
        assert post(client, token, [bad, keyword, called]) == ["duplicate"] * 3
    with server.engine.connect() as connection:
        alerts = {r.response_id: r for r in connection.execute(select(Alert))}
    assert set(alerts) == {bad["id"], keyword["id"], called["id"]}
    assert json.loads(alerts[bad["id"]].reasons) == ["survey_rule"]
    assert json.loads(alerts[keyword["id"]].reasons) == ["keyword:shouted"]
    assert json.loads(alerts[called["id"]].reasons) == ["survey_rule"]
    assert [bool(alerts[i].contact_ok) for i in (bad["id"], called["id"])] == [False, True]
    for alert in alerts.values():
        assert (alert.status, alert.site, alert.kiosk_id, alert.owner, alert.version) == (
            "new",
            "north",
            "desk-1",
            None,
            1,
        )
        assert as_utc(alert.due_at) == due_time(as_utc(alert.created_at), 2, UTC)
    assert SECRET_WORDS not in caplog.text and "07700" not in caplog.text and "SHOUTED" not in caplog.text


def test_an_alert_is_worked_from_new_to_resolved_and_mailed_once(server, sink, caplog):
    token = server.enroll("desk-1", site="north")
    bad = fft_record(answers={"overall": "very_poor", "why": SECRET_WORDS})
    caplog.set_level(logging.INFO)
    with TestClient(server.app) as client:
        post(client, token, [bad])
        (mail,) = sink.wait_for(1)
        (alert,) = rows(server.engine, "SELECT id, due_at FROM alerts")
        subject, body = mail["Subject"], mail.get_payload(decode=True).decode()
        assert re.fullmatch(
            rf"Low-score alert {alert.id}: fft at north, due \w{{3}} \d\d \w{{3}} \d\d:\d\d", subject
        )
        assert f"https://feedback.example.org/admin/alerts/{alert.id}" in body
        assert "very" not in (subject + body).lower() and SECRET_WORDS not in body
        assert "did not ask to be contacted" in body
        assert sink.envelopes[0].rcpt_tos == ["manager@clinic.example"]

        login(client)
        page = client.get(f"/admin/alerts/{alert.id}")
        assert SECRET_WORDS in page.text and "Very poor" in page.text
        assert "did not agree to be contacted" in page.text
        queue = client.get("/admin/alerts").text
        assert f"#{alert.id}" in queue

        def work(status: str, owner: str, note: str, version: int) -> Any:
            form = {
                "csrf": csrf_of(page),
                "version": str(version),
                "status": status,
                "owner": owner,
                "note": note,
            }
            return client.post(f"/admin/alerts/{alert.id}", data=form)

        done = work("contacted", "alice", "Called back, apologised", 1)
        assert done.status_code == 200 and "Saved: status new → contacted; owner nobody → alice" in done.text
        stale = work("resolved", "bob", "", 1)
        assert stale.status_code == 409 and "changed by someone else" in stale.text
        assert work("resolved", "alice", "Practice meeting discussed it", 2).status_code == 200
        assert "status contacted → resolved" in client.get(f"/admin/alerts/{alert.id}").text
        assert f"#{alert.id}" not in client.get("/admin/alerts?status=open").text
        assert f"#{alert.id}" in client.get("/admin/alerts?status=resolved&owner=me").text
        assert work("resolved", "mallory", "", 3).status_code == 400
    (row,) = rows(
        server.engine, "SELECT status, owner, resolved_at, notified_at, notify_attempts FROM alerts"
    )
    assert (row.status, row.owner, row.notify_attempts) == ("resolved", "alice", 1)
    assert row.resolved_at is not None and row.notified_at is not None
    notes = rows(server.engine, "SELECT author, change, body FROM alert_notes ORDER BY id")
    assert [(n.author, n.change, n.body) for n in notes] == [
        ("alice", "status new → contacted; owner nobody → alice", "Called back, apologised"),
        ("alice", "status contacted → resolved", "Practice meeting discussed it"),
    ]
    assert len(sink.messages) == 1, "one alert, one e-mail"
    assert SECRET_WORDS not in caplog.text and "apologised" not in caplog.text


def test_contact_details_show_only_when_the_patient_opted_in(server):
    answers = {"overall": 1, "front_desk": "no", "wait": "over_30", "recommend": 0}
    yes = post_visit_record(answers={**answers, "contact_ok": True, "contact_details": "call 07700 900123"})
    no = post_visit_record(answers={**answers, "contact_ok": False, "contact_details": "call 07700 900999"})
    store(server.engine, [yes, no])
    ids = {r.response_id: r.id for r in rows(server.engine, "SELECT id, response_id FROM alerts")}
    client = TestClient(server.app)
    login(client)
    shown = client.get(f"/admin/alerts/{ids[yes['id']]}").text
    assert "The patient agreed to be contacted" in shown and "call 07700 900123" in shown
    hidden = client.get(f"/admin/alerts/{ids[no['id']]}").text
    assert "did not agree to be contacted" in hidden and "07700 900999" not in hidden
    assert "wants contact" in client.get("/admin/alerts").text


def test_mail_is_retried_after_a_failure_and_never_sent_twice(server, sink, caplog):
    store(server.engine, [fft_record(answers={"overall": "poor"}) for _ in range(3)])
    now = utc_now()
    sink.refuse = True
    assert send_due(server.engine, server.settings, now) == 0
    assert {r.notify_attempts for r in rows(server.engine, "SELECT notify_attempts FROM alerts")} == {1}
    assert send_due(server.engine, server.settings, now + timedelta(seconds=10)) == 0, "waits before retrying"
    sink.refuse = False
    later = now + timedelta(minutes=2)
    sent: list[int] = []
    threads = [
        threading.Thread(target=lambda: sent.append(send_due(server.engine, server.settings, later)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent) == 3 and len(sink.messages) == 3, "three processes racing send each alert once"
    assert send_due(server.engine, server.settings, later + timedelta(hours=2)) == 0
    assert "not sent" in caplog.text


def test_rules_edited_in_the_admin_web_apply_at_the_next_response(server):
    token = server.enroll("desk-1")
    client = TestClient(server.app)
    login(client)
    page = client.get("/admin/rules")
    assert "Set by: settings.json" in page.text and "shouted" in page.text

    def save(**form: str) -> Any:
        return client.post("/admin/rules/post-visit", data={"csrf": csrf_of(page), "action": "save", **form})

    assert "not JSON" in save(enabled="1", own_rule="{oops").text
    refused = save(enabled="1", own_rule='{"question": "parking", "equals": "hard"}')
    assert refused.status_code == 400 and "parking" in refused.text
    assert (
        save(
            enabled="1", own_rule='{"question": "wait", "equals": "over_30"}', keywords="Dirty\nlost my file"
        ).status_code
        == 200
    )
    assert "Set by: admin web" in client.get("/admin/rules").text
    good = {"overall": 5, "front_desk": "definitely", "recommend": 10}
    waited = post_visit_record(answers={**good, "wait": "over_30"})
    dirty = post_visit_record(answers={**good, "overall": 3, "wait": "under_5", "improve": "Dirty floors"})
    fine = post_visit_record(answers={**good, "wait": "under_5"})
    post(client, token, [waited, dirty, fine])
    reasons = {r.response_id: json.loads(r.reasons) for r in rows(server.engine, "SELECT * FROM alerts")}
    assert reasons == {waited["id"]: ["own_rule"], dirty["id"]: ["keyword:dirty"]}
    client.post("/admin/rules/post-visit", data={"csrf": csrf_of(page), "action": "save"})
    off = post_visit_record(answers={**good, "recommend": 0, "wait": "over_30"})
    post(client, token, [off])
    assert off["id"] not in {r.response_id for r in rows(server.engine, "SELECT response_id FROM alerts")}
    client.post("/admin/rules/post-visit", data={"csrf": csrf_of(page), "action": "reset"})
    assert "Set by: survey file" in client.get("/admin/rules").text


def test_the_server_reads_its_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_settings(
        tmp_path,
        time_zone="Europe/London",
        alert_service_days=3,
        smtp_host="mail.example.org",
        smtp_from="feedback@example.org",
        smtp_to="manager@example.org",
        alert_rules={"fft": {"keywords": ["rude"]}},
        fleet_silent_hours=12,
    )
    settings = with_settings_file(Settings("sqlite:///x.db"), tmp_path / "server")
    assert (settings.time_zone, settings.alert_service_days, settings.fleet_silent_hours) == (
        "Europe/London",
        3,
        12,
    )
    assert settings.smtp_to == ("manager@example.org",) and settings.smtp_enabled
    monkeypatch.setenv("KIOSK_SERVER_SETTINGS", settings.to_env())
    assert Settings.from_env() == settings, "workers rebuild the same settings from JSON"
    assert with_settings_file(Settings("sqlite:///y.db"), tmp_path / "nowhere") == Settings("sqlite:///y.db")
