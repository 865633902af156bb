"""POST /api/v1/responses against the contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import ApiServer, fft_record, post_visit_record
from sqlalchemy.exc import OperationalError

from kiosk.record import canonical, iso, utc_now
from kiosk.survey import builtin_survey, parse_survey
from sync.server.surveys import publish

pytest_plugins = ["server_fixtures"]

PATH = "/api/v1/responses"


def post(client: TestClient, token: str | None, body: Any, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, (bytes, str)):
        return client.post(PATH, content=body, headers=headers, **kwargs)
    return client.post(PATH, json=body, headers=headers, **kwargs)


@pytest.fixture
def client(api_server: ApiServer) -> TestClient:
    return TestClient(api_server.app)


@pytest.fixture
def token(api_server: ApiServer) -> str:
    return api_server.enroll("desk-1", site="north")


def statuses(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["receipts"]]


def test_new_records_are_created_and_kept_exactly_as_sent(api_server, client, token):
    records = [fft_record(), post_visit_record(n=2), fft_record(status="partial", answers={})]
    response = post(client, token, {"responses": records})
    assert response.json()["receipts"] == [
        {"id": r["id"], "status": "created", "detail": ""} for r in records
    ]
    rows = {row.id: row for row in api_server.rows("SELECT * FROM responses")}
    assert set(rows) == {r["id"] for r in records}
    for record in records:
        row = rows[record["id"]]
        assert json.loads(row.payload) == record
        assert (row.survey_id, row.survey_version, row.kiosk_id, row.site, row.channel, row.status) == (
            record["survey_id"],
            1,
            "desk-1",
            "north",
            "kiosk",
            record["status"],
        )
        assert row.received_at is not None


def test_a_resend_is_duplicate_and_changed_content_is_conflict(api_server, client, token):
    record = fft_record()
    assert statuses(post(client, token, {"responses": [record]})) == ["created"]
    reordered = dict(reversed(list(record.items())))
    assert statuses(post(client, token, {"responses": [reordered]})) == ["duplicate"]
    changed = copy.deepcopy(record)
    changed["answers"]["overall"] = "very_poor"
    response = post(client, token, {"responses": [changed]})
    assert statuses(response) == ["conflict"]
    assert "nothing was overwritten" in response.json()["receipts"][0]["detail"]
    (row,) = api_server.rows("SELECT payload FROM responses")
    assert json.loads(row.payload) == record


def test_the_same_id_twice_in_one_batch(api_server, client, token):
    record = fft_record()
    other = {**record, "language": "es"}
    assert statuses(post(client, token, {"responses": [record, record, other]})) == [
        "created",
        "duplicate",
        "conflict",
    ]
    assert len(api_server.rows("SELECT id FROM responses")) == 1


BAD_RECORDS: list[tuple[str, Any, str]] = [
    ("not an object", ["a", "list"], "must be an object"),
    ("missing field", {k: v for k, v in fft_record().items() if k != "answers"}, "answers: missing"),
    ("bad id", fft_record(id="not-a-uuid"), "id: must be a UUID"),
    ("unknown survey", fft_record(survey_id="nope"), "no survey nope v1"),
    ("unknown version", fft_record(survey_version=7), "no survey fft v7"),
    ("huge version", fft_record(survey_version=10**30), "no survey fft"),
    ("bool version", fft_record(survey_version=True), "survey_version"),
    ("wrong answer type", fft_record(answers={"overall": 5}), "answers.overall"),
    ("unknown option", fft_record(answers={"overall": "meh"}), "not an option"),
    ("unknown question", fft_record(answers={"overall": "good", "x": 1}), "no such question"),
    ("required missing", fft_record(answers={"why": "ok"}), "required"),
    ("out of scale", post_visit_record(n=1, answers={"overall": 6}), "answers.overall"),
    ("other kiosk", fft_record(kiosk_id="desk-2"), "belongs to kiosk desk-1"),
    ("phone channel", fft_record(channel="phone"), "channel"),
    ("bad status", fft_record(status="lost"), "status"),
    ("bad time", fft_record(submitted_at="yesterday"), "submitted_at"),
    ("year one", fft_record(started_at="0001-01-01T00:00:00+01:00"), "time"),
    ("NUL in survey id", fft_record(survey_id="f\x00t"), "no survey"),
    ("lone surrogate", fft_record(answers={"overall": "good", "why": "\ud800"}), "Unicode"),
    ("unknown flag", fft_record(flags=["sneaky"]), "flags"),
]


def test_each_bad_record_is_rejected_with_its_reason_and_the_others_are_stored(api_server, client, token):
    good = [fft_record() for _ in BAD_RECORDS]
    mixed = [item for pair in zip(good, [r for _, r, _ in BAD_RECORDS], strict=True) for item in pair]
    receipts = post(client, token, json.dumps({"responses": mixed})).json()["receipts"]
    assert [r["status"] for r in receipts[0::2]] == ["created"] * len(good)
    for (case, record, reason), got in zip(BAD_RECORDS, receipts[1::2], strict=True):
        assert got["status"] == "rejected", case
        assert reason in got["detail"], (case, got["detail"])
        assert got["id"] == (record.get("id") if isinstance(record, dict) else None), case
    stored = {row.id for row in api_server.rows("SELECT id FROM responses")}
    assert stored == {g["id"] for g in good}


def test_a_kiosk_record_saved_before_enrollment_counts_for_the_kiosk(api_server, client, token):
    record = fft_record(kiosk_id=None)
    assert statuses(post(client, token, {"responses": [record]})) == ["created"]
    (row,) = api_server.rows("SELECT kiosk_id, payload FROM responses")
    assert row.kiosk_id == "desk-1"
    assert json.loads(row.payload)["kiosk_id"] is None


def test_older_survey_versions_stay_accepted_after_a_new_one_is_published(api_server, client, token):
    raw = copy.deepcopy(dict(builtin_survey("fft").raw))
    raw["version"] = 2
    options = raw["questions"][0]["options"]
    raw["questions"][0]["options"] = [o for o in options if o["value"] != "neither"]
    with api_server.engine.begin() as connection:
        publish(connection, parse_survey(raw), None)
    old = fft_record(answers={"overall": "neither"})
    new_ok = fft_record(survey_version=2, answers={"overall": "good"})
    new_bad = fft_record(survey_version=2, answers={"overall": "neither"})
    assert statuses(post(client, token, {"responses": [old, new_ok, new_bad]})) == [
        "created",
        "created",
        "rejected",
    ]


def test_batch_size_and_body_size_limits(database_url):
    server = ApiServer(database_url, max_body_bytes=20_000)
    client = TestClient(server.app)
    token = server.enroll()
    too_many = post(client, token, {"responses": [{}] * 501})
    assert too_many.status_code == 413
    assert "at most 500" in too_many.json()["detail"]
    assert statuses(post(client, token, {"responses": [{}] * 500})) == ["rejected"] * 500
    big = {"responses": [fft_record(answers={"overall": "good", "why": "x" * 400})] * 60}
    assert post(client, token, big).status_code == 413

    def chunks():
        # Streamed without Content-Length: the limit counts the bytes as they arrive.
        body = json.dumps(big).encode()
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    streamed = client.post(PATH, content=chunks(), headers={"Authorization": f"Bearer {token}"})
    assert streamed.status_code == 413
    assert streamed.json()["detail"].startswith("the request body is over")
    assert server.rows("SELECT id FROM responses") == []
    server.close()


MALFORMED = [
    b"",
    b"not json",
    b"[]",
    b'{"responses": {}}',
    b'{"records": []}',
    b'{"responses": [NaN]}',
    b'{"responses": [{"answers": {"recommend": 1e999999}}]}',
    b"\xff\xfe\x00",
    b"[" * 100_000,
    b'{"responses": [' + b"9" * 5000 + b"]}",
]


def test_a_malformed_envelope_is_422_never_500(client, token):
    for body in MALFORMED:
        response = post(client, token, body)
        assert response.status_code == 422, (body[:40], response.text)
        assert isinstance(response.json()["detail"], str)


def test_empty_batch_is_fine(client, token):
    assert statuses(post(client, token, {"responses": []})) == []


UNKNOWN = [
    None,
    "Basic abc",
    "Bearer",
    "Bearer nope",
    "Bearer desk-1.wrongwrongwrongwrongwrongwrongwrongwrong",
    "Bearer ghost.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "Bearer desk-1.\x00\x00",
]


def test_unknown_tokens_get_401(client, token):
    for header in UNKNOWN:
        headers = {"Authorization": header} if header else {}
        response = client.post(PATH, json={"responses": [fft_record()]}, headers=headers)
        assert response.status_code == 401, header
        assert "not authorised" in response.json()["detail"]


def test_a_revoked_kiosk_gets_401_and_can_be_enrolled_again(api_server, client, token):
    from sync.server.auth import revoke_kiosk

    with api_server.engine.begin() as connection:
        revoke_kiosk(connection, "desk-1")
    assert post(client, token, {"responses": []}).status_code == 401
    new_token = api_server.enroll("desk-1")
    assert post(client, token, {"responses": []}).status_code == 401
    assert statuses(post(client, new_token, {"responses": [fft_record()]})) == ["created"]


def test_repeated_failures_are_rate_limited_then_forgiven(database_url):
    server = ApiServer(database_url, auth_failures_allowed=3, auth_failure_window_s=0.5)
    client = TestClient(server.app)
    token = server.enroll()
    for _ in range(3):
        assert (
            post(client, "desk-1.guessguessguessguessguessguessguessguess", {"responses": []}).status_code
            == 401
        )
    limited = post(client, token, {"responses": []})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) == 1
    time.sleep(0.6)
    assert post(client, token, {"responses": []}).status_code == 200
    server.close()


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(database_url):
    bad = "desk-1.guessguessguessguessguessguessguessguess"
    for trusted, expected in ((("testclient",), 401), ((), 429)):
        server = ApiServer(database_url, auth_failures_allowed=2, trusted_proxies=trusted)
        client = TestClient(server.app)
        for n in range(3):
            response = client.post(
                PATH,
                json={"responses": []},
                headers={"Authorization": f"Bearer {bad}", "X-Forwarded-For": f"10.0.0.{n}"},
            )
        assert response.status_code == expected
        server.close()


def test_every_sync_records_the_kiosk_health_and_clock_drift(api_server, client, token):
    ahead = utc_now() + timedelta(seconds=120)
    health = {"app_version": "1.2.3", "pending": 42, "oldest_pending_age_s": 3600.5, "clock": iso(ahead)}
    assert statuses(post(client, token, {"responses": [], "kiosk": health})) == []
    (row,) = api_server.rows("SELECT * FROM kiosks")
    assert (row.app_version, row.pending, row.oldest_pending_age_s) == ("1.2.3", 42, 3600.5)
    assert 115 <= row.clock_drift_s <= 121
    assert row.last_seen_at is not None
    nonsense = {"app_version": 7, "pending": -1, "oldest_pending_age_s": "old", "clock": "noon"}
    assert statuses(post(client, token, {"responses": [fft_record()], "kiosk": nonsense})) == ["created"]
    (after,) = api_server.rows("SELECT * FROM kiosks")
    assert (after.app_version, after.pending, after.clock_drift_s) == ("1.2.3", 42, row.clock_drift_s)
    assert after.last_seen_at >= row.last_seen_at


def test_a_batch_is_one_transaction(api_server, client, token, monkeypatch):
    import sync.server.ingest as ingest

    def fail(*args: Any) -> None:
        raise OperationalError("UPDATE kiosks", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ingest, "record_health", fail)
    response = post(client, token, {"responses": [fft_record(), fft_record()]})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert api_server.rows("SELECT id FROM responses") == []


def test_two_requests_racing_with_the_same_batch_store_each_record_once(api_server, token):
    records = [post_visit_record(n=n) for n in range(200)]
    results: list[list[str]] = []
    start = threading.Barrier(3)

    def send() -> None:
        with TestClient(api_server.app) as client:
            start.wait()
            results.append(statuses(post(client, token, {"responses": records})))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for column in zip(*results, strict=True):
        assert sorted(column) == ["created", "duplicate", "duplicate"]
    rows = api_server.rows("SELECT id, digest FROM responses")
    assert len(rows) == len(records)
    digests = {r["id"]: hashlib.sha256(canonical(r)).hexdigest() for r in records}
    assert {row.id: row.digest for row in rows} == digests


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
