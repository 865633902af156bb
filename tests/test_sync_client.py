"""The sync client against a real server on loopback, with a faulty proxy between them."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from server_helpers import ApiServer, FaultProxy, ThreadServer, fft_record, self_signed_certificate

from kiosk.config import KioskConfig
from kiosk.store import ResponseStore
from kiosk.survey import builtin_survey, builtin_survey_ids, parse_survey
from sync.client import BACKOFF_CAP_S, NOT_AUTHORISED, SurveyCache, SyncClient, _retry_after
from sync.server.auth import revoke_kiosk
from sync.server.surveys import publish

pytest_plugins = ["server_fixtures"]


@dataclass
class Rig:
    server: ApiServer
    live: ThreadServer
    store: ResponseStore
    config: KioskConfig
    data_dir: Path

    def client(self, url: str | None = None, **options: Any) -> SyncClient:
        self.config.server_url = url or self.live.url
        return SyncClient(self.store, self.config, data_dir=self.data_dir, **options)

    def stored(self) -> dict[str, Any]:
        return {row.id: row for row in self.server.rows("SELECT id, payload FROM responses")}

    def save(self, n: int, **changes: Any) -> list[dict[str, Any]]:
        records = [fft_record(**copy.deepcopy(changes)) for _ in range(n)]
        for record in records:
            self.store.save(record)
        return records


def make_rig(tmp_path: Path, **settings: Any) -> Iterator[Rig]:
    server = ApiServer(f"sqlite:///{tmp_path / 'server.db'}", **settings)
    token = server.enroll("desk-1")
    data_dir = tmp_path / "kiosk"
    store = ResponseStore(data_dir)
    config = KioskConfig(kiosk_id="desk-1", token=token)
    with ThreadServer(server.app) as live:
        yield Rig(server, live, store, config, data_dir)
    store.close()
    server.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from make_rig(tmp_path)


def test_a_pass_applies_every_kind_of_receipt(rig):
    good = rig.save(5)
    bad = rig.save(1, answers={"overall": "meh"})[0]
    clash = rig.save(1)[0]
    odd = {**fft_record(), "id": "not-a-uuid-" + "x" * 150}
    rig.store.save(odd)
    other = {**clash, "language": "es"}
    TestClient(rig.server.app).post(
        "/api/v1/responses",
        json={"responses": [other]},
        headers={"Authorization": f"Bearer {rig.config.token}"},
    )
    with FaultProxy(rig.live.port) as proxy:
        client = rig.client(proxy.url, batch_size=2)
        result = client.run_once()
        outcome = (result.sent, result.stored, result.quarantined, result.pending, result.error)
        assert outcome == (8, 5, 3, 0, None)
        reasons = {record["id"]: why for record, why in rig.store.quarantined()}
        assert reasons[bad["id"]].startswith("rejected: answers.overall")
        assert reasons[clash["id"]].startswith("conflict: ")
        assert reasons[odd["id"]].startswith("rejected: id: must be a UUID")
        assert set(rig.stored()) == {r["id"] for r in good} | {clash["id"]}
        assert client.status.last_success is not None
        assert (client.status.pending, client.status.quarantined, client.status.last_error) == (0, 3, None)
        before = len(proxy.passed)
        again = client.run_once()
        assert (again.sent, again.error) == (0, None)
        assert [line.split()[0] for line, _ in proxy.passed[before:]] == ["POST", "GET"]


def test_a_receipt_lost_after_the_commit_is_answered_duplicate_on_resend(rig):
    records = rig.save(4)
    plan = iter(["cut_after_commit"])
    with FaultProxy(rig.live.port, plan=lambda: next(plan, "pass")) as proxy:
        client = rig.client(proxy.url)
        first = client.run_once()
        assert first.error is not None
        assert first.pending == 4
        assert len(rig.stored()) == 4
        assert b'"status":"created"' in proxy.cut_answers[0]
        second = client.run_once()
        assert (second.stored, second.pending, second.error) == (4, 0, None)
    assert set(rig.stored()) == {r["id"] for r in records}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("portal", "a Wi-Fi login page?"),
        ("json-200", "not a receipt"),
        ("redirect", "redirected to http://portal.invalid/login"),
        ("502", "HTTP 502"),
        ("503", "HTTP 503"),
        ("drop", "server unreachable"),
    ],
)
def test_anything_but_our_receipt_leaves_the_records_pending(rig, mode, reason):
    rig.save(3)
    with FaultProxy(rig.live.port, plan=lambda: mode) as proxy:
        result = rig.client(proxy.url).run_once()
    assert result.pending == 3
    assert reason in (result.error or "")
    assert rig.client().status.last_success is None
    assert rig.store.pending_count() == 3
    assert rig.store.quarantined() == []


def test_retry_after_is_read_from_seconds_and_dates(rig):
    rig.save(1)
    with FaultProxy(rig.live.port, plan=lambda: "429-wait") as proxy:
        result = rig.client(proxy.url).run_once()
    assert result.retry_after == 7
    assert "HTTP 429" in (result.error or "")
    response = requests.Response()
    response.headers["Retry-After"] = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= (_retry_after(response) or 0) <= 90
    response.headers["Retry-After"] = "soon"
    assert _retry_after(response) is None


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after(rig):
    client = rig.client(rng=random.Random(7), backoff_base_s=2.0)
    for failures, ceiling in ((1, 2), (2, 4), (3, 8), (8, 256), (9, BACKOFF_CAP_S), (60, BACKOFF_CAP_S)):
        client._failures = failures
        delays = [client._backoff(None) for _ in range(400)]
        assert all(0 <= d <= ceiling for d in delays)
        assert min(delays) < 0.1 * ceiling
        assert max(delays) > 0.9 * ceiling
    client._failures = 1
    assert all(client._backoff(42) >= 42 for _ in range(50))
    assert client._backoff(10**9) == 3600


def test_401_stops_syncing_until_the_kiosk_has_a_new_token(rig):
    rig.save(2)
    with rig.server.engine.begin() as connection:
        revoke_kiosk(connection, "desk-1")
    with FaultProxy(rig.live.port) as proxy:
        client = rig.client(proxy.url)
        result = client.run_once()
        assert (result.authorised, result.error, result.pending) == (False, NOT_AUTHORISED, 2)
        assert (client.status.authorised, client.status.last_error) == (False, "kiosk not authorised")
        asked = len(proxy.passed)
        assert client.run_once().error == NOT_AUTHORISED
        client.sync_now()
        assert client.run_once().error == NOT_AUTHORISED
        assert len(proxy.passed) == asked
        rig.config.token = rig.server.enroll("desk-1")
        result = client.run_once()
        assert (result.authorised, result.error, result.pending) == (True, None, 0)
        assert client.status.authorised


def test_413_halves_the_batch_and_a_record_too_large_alone_is_quarantined(tmp_path):
    rigs = make_rig(tmp_path, max_body_bytes=2000)
    rig = next(rigs)
    small = rig.save(12)
    huge = rig.save(1, answers={"overall": "good", "why": "\U0001f600" * 500})[0]
    result = rig.client(batch_size=50).run_once()
    assert (result.stored, result.quarantined, result.pending, result.error) == (12, 1, 0, None)
    assert set(rig.stored()) == {r["id"] for r in small}
    ((record, why),) = rig.store.quarantined()
    assert record["id"] == huge["id"]
    assert "too large" in why
    next(rigs, None)


def test_timeouts_are_explicit_and_a_slow_server_is_a_failure(rig):
    assert rig.client().timeout == (3.05, 15.0)
    rig.save(2)
    with FaultProxy(rig.live.port, plan=lambda: "delay", delay_s=1.0) as proxy:
        result = rig.client(proxy.url, read_timeout_s=0.3).run_once()
    assert result.error == "server unreachable (ReadTimeout)"
    assert result.pending == 2


def test_the_background_thread_never_makes_the_screens_wait(rig):
    rig.save(3)
    with FaultProxy(rig.live.port, plan=lambda: "delay", delay_s=0.5) as proxy:
        client = rig.client(proxy.url, interval_s=60)
        client.start()
        try:
            slowest = 0.0
            deadline = time.monotonic() + 10
            while client.status.last_success is None and time.monotonic() < deadline:
                started = time.perf_counter()
                client.sync_now()
                _ = client.status.pending
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.02)
            assert client.status.last_success is not None
            assert slowest < 0.2
            assert rig.store.pending_count() == 0
            rig.save(2)
            client.sync_now()
            deadline = time.monotonic() + 10
            while rig.store.pending_count() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rig.store.pending_count() == 0
        finally:
            assert client.stop(timeout_s=5)


def test_tls_is_verified_and_a_custom_ca_bundle_can_be_trusted(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    server = ApiServer(f"sqlite:///{tmp_path / 'server.db'}")
    token = server.enroll("desk-1")
    store = ResponseStore(tmp_path / "kiosk")
    store.save(fft_record())
    config = KioskConfig(kiosk_id="desk-1", token=token)
    with ThreadServer(server.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as live:
        config.server_url = live.url
        refused = SyncClient(store, config).run_once()
        assert "certificate is not trusted" in (refused.error or "")
        assert refused.pending == 1
        config.ca_bundle = str(cert)
        trusted = SyncClient(store, config).run_once()
        assert (trusted.error, trusted.pending) == (None, 0)
    store.close()
    server.close()


def test_surveys_are_pulled_by_etag_and_kept_for_an_offline_start(rig):
    with FaultProxy(rig.live.port) as proxy:
        client = rig.client(proxy.url)
        assert client.run_once().error is None
        assert client.surveys.ids() == builtin_survey_ids()
        in_use = client.surveys.get("fft")
        assert client.run_once().error is None
        surveys_asked = [status for line, status in proxy.passed if line.startswith("GET")]
        assert surveys_asked == [200, 304]
        raw = copy.deepcopy(dict(builtin_survey("fft").raw))
        raw["version"] = 2
        with rig.server.engine.begin() as connection:
            publish(connection, parse_survey(raw), None)
        assert client.run_once().error is None
    assert client.surveys.get("fft").version == 2
    assert in_use.version == 1
    offline = SurveyCache(rig.data_dir)
    assert offline.get("fft").version == 2
    assert offline.etag == client.surveys.etag


def test_every_sync_reports_the_kiosk_health(rig):
    rig.save(3)
    client = rig.client(app_version="9.9.9")
    assert client.run_once().error is None
    (kiosk,) = rig.server.rows("SELECT * FROM kiosks")
    assert kiosk.app_version == "9.9.9"
    assert kiosk.pending == 3
    assert abs(kiosk.clock_drift_s) < 5
    assert client.run_once().error is None
    (kiosk,) = rig.server.rows("SELECT * FROM kiosks")
    assert kiosk.pending == 0
