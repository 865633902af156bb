"""The kiosk's uploader: one background thread sends the outbox in batches and applies receipts.

A record leaves the outbox only on a receipt in our JSON: "created" or "duplicate" mark it synced,
"conflict" or "rejected" quarantine it with the server's reason (never resent blindly). Anything
else (a dropped connection, a 5xx, a Wi-Fi login page answering 200) is a failed attempt: the
records stay pending, and the thread backs off exponentially with full jitter. Records are frozen
once saved, so a resend is byte-identical and the server answers "duplicate".

The screens read `status`, an immutable snapshot, and call `sync_now()`, which only sets an
event: nothing here ever makes the UI wait on the network.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import requests

from kiosk import __version__
from kiosk.config import KioskConfig
from kiosk.record import iso, parse_iso, utc_now
from kiosk.storage import write_atomic
from kiosk.store import StoreError
from kiosk.survey import Survey, SurveyError, parse_survey
from sync.protocol import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    REJECTED,
    RESPONSES_PATH,
    STORED,
    SURVEYS_PATH,
    KioskStatus,
    ProtocolError,
    envelope,
    parse_receipts,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.05
READ_TIMEOUT_S = 15.0
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
MAX_RETRY_AFTER_S = 3600.0
NOT_AUTHORISED = "kiosk not authorised"
TOO_LARGE = "too large for the server to accept, even alone"
SURVEY_CACHE = "server-surveys.json"


class Store(Protocol):
    """The part of kiosk.store.ResponseStore the uploader uses."""

    def pending(self, limit: int = ...) -> list[dict[str, Any]]: ...
    def mark_synced(self, ids: list[str]) -> int: ...
    def quarantine(self, ids_with_reasons: Mapping[str, str]) -> int: ...
    def pending_count(self) -> int: ...
    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the admin screen shows; replaced whole, so a reader never sees half an update."""

    last_success: datetime | None = None
    last_attempt: datetime | None = None
    pending: int = 0
    quarantined: int = 0
    last_error: str | None = None
    authorised: bool = True
    enrolled: bool = False


@dataclass(frozen=True, slots=True)
class PassResult:
    """One pass over the outbox, as `python main.py sync` reports it."""

    sent: int
    stored: int
    quarantined: int
    pending: int
    error: str | None = None
    retry_after: float | None = None
    authorised: bool = True


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    stored: int = 0
    quarantined: int = 0

    def add(self, stored: int, quarantined: int) -> None:
        self.stored += stored
        self.quarantined += quarantined

    def result(
        self,
        pending: int,
        error: str | None = None,
        retry_after: float | None = None,
        *,
        authorised: bool = True,
    ) -> PassResult:
        return PassResult(self.sent, self.stored, self.quarantined, pending, error, retry_after, authorised)


class _Failed(Exception):
    """This attempt failed; the records stay pending."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Unauthorised(_Failed):
    pass


class _TooLarge(_Failed):
    pass


class SurveyCache:
    """The surveys the server publishes for this kiosk's site, kept on disk for offline starts.

    The kiosk asks `get()` only when a new patient starts, so a survey never changes version under
    a patient; the mapping is replaced whole on update, never changed in place.
    """

    def __init__(self, data_dir: Path | None) -> None:
        self.path = Path(data_dir) / SURVEY_CACHE if data_dir is not None else None
        self.etag: str | None = None
        self._surveys: Mapping[str, Survey] = {}
        if self.path is not None and self.path.exists():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
                self._surveys = _parse_surveys(saved["surveys"])[0]
                self.etag = saved["etag"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.warning("%s: ignored, the next sync fetches it again (%s)", self.path, e)

    def get(self, survey_id: str) -> Survey | None:
        return self._surveys.get(survey_id)

    def ids(self) -> list[str]:
        return sorted(self._surveys)

    def update(self, etag: str | None, definitions: Any) -> list[str]:
        """Take what the server sent; returns the problems of definitions that were left out."""
        surveys, problems = _parse_surveys(definitions)
        if self.path is not None:
            data = {"etag": etag, "surveys": [dict(s.raw) for s in surveys.values()]}
            write_atomic(self.path, json.dumps(data, ensure_ascii=False).encode())
        self._surveys, self.etag = surveys, etag
        return problems


def _parse_surveys(definitions: Any) -> tuple[dict[str, Survey], list[str]]:
    if not isinstance(definitions, list):
        raise ValueError("surveys: must be a list")
    surveys, problems = {}, []
    for definition in definitions:
        try:
            survey = parse_survey(definition, "server survey")
        except SurveyError as e:
            problems.append(str(e).splitlines()[0])
            continue
        surveys[survey.id] = survey
    return surveys, problems


class SyncClient:
    """Sends `store.pending()` to the server; `start()` runs it in the background."""

    def __init__(
        self,
        store: Store,
        config: KioskConfig,
        *,
        data_dir: Path | None = None,
        app_version: str = __version__,
        batch_size: int = MAX_BATCH,
        interval_s: float | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.surveys = SurveyCache(data_dir)
        self.app_version = app_version
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.interval_s = config.sync_interval_seconds if interval_s is None else interval_s
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._rng = rng or random.Random()
        self._status = SyncStatus(
            pending=store.pending_count(),
            quarantined=store.status().get("quarantined", 0),
            enrolled=config.enrolled,
        )
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._refused_token: str | None = None

    @property
    def status(self) -> SyncStatus:
        return self._status

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the thread to finish; True once it has (a request in flight may delay it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def sync_now(self, *, force: bool = False) -> None:
        """Wake the thread. Without `force`, a backoff or a refused token is left to run its course,
        so calling this after every save is fine; the admin's "Sync now" button forces."""
        if force:
            self._failures = 0
            self._refused_token = None
        elif self._failures or self._refused_token is not None:
            return
        self._wake.set()

    def run_once(self) -> PassResult:
        """One pass with a session of its own: what `python main.py sync` runs."""
        with requests.Session() as session:
            return self._pass(session)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                # Cleared before the pass: a save during the pass asks for another one at once.
                self._wake.clear()
                try:
                    result = self._pass(session)
                except Exception as e:
                    # A dead sync thread would strand every answer: report, back off, go on.
                    log.exception("sync pass failed")
                    result = self._finish(
                        PassResult(0, 0, 0, self._status.pending, f"internal error: {type(e).__name__}")
                    )
                if not result.authorised:
                    delay = self.interval_s
                elif result.error is None:
                    self._failures = 0
                    delay = self.interval_s
                else:
                    self._failures += 1
                    delay = self._backoff(result.retry_after)
                self._wake.wait(delay)

    def _backoff(self, retry_after: float | None) -> float:
        """Full jitter: anywhere from 0 to the capped exponential, so a fleet does not march in step."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(self._failures - 1, 30))
        delay = self._rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
        return delay

    def _pass(self, session: requests.Session) -> PassResult:
        with self._pass_lock:
            config = self.config
            if not config.enrolled:
                return self._finish(PassResult(0, 0, 0, self._pending(), "not enrolled with a server"))
            if self._refused_token == config.token:
                return self._finish(PassResult(0, 0, 0, self._pending(), NOT_AUTHORISED, authorised=False))
            self._refused_token = None
            tally = _Tally()
            try:
                with ThreadPoolExecutor(1, thread_name_prefix="sync-store") as store_worker:
                    self._send_all(session, config, store_worker, tally)
                self._pull_surveys(session, config)
            except _Unauthorised as e:
                self._refused_token = config.token
                return self._finish(tally.result(self._pending(), e.reason, authorised=False))
            except _Failed as e:
                return self._finish(tally.result(self._pending(), e.reason, e.retry_after))
            except StoreError as e:
                return self._finish(tally.result(self._pending(), str(e)))
            return self._finish(tally.result(self._pending()))

    def _send_all(
        self, session: requests.Session, config: KioskConfig, store_worker: ThreadPoolExecutor, tally: _Tally
    ) -> None:
        """Send batches until the outbox is empty. The receipts of one batch are written to the
        store (fsyncs) while the next batch is on the wire, so neither waits for the other."""
        size = self.batch_size
        unapplied: dict[str, tuple[str, str]] = {}
        try:
            while True:
                records = [
                    r for r in self.store.pending(limit=size + len(unapplied)) if r["id"] not in unapplied
                ][:size]
                body = self._encode(records)
                while len(body) > MAX_BODY_BYTES and len(records) > 1:
                    records = records[: len(records) // 2]
                    size = len(records)
                    body = self._encode(records)
                applying = store_worker.submit(self._apply, unapplied) if unapplied else None
                unapplied = {}
                try:
                    receipts = self._post(session, config, body, [r["id"] for r in records])
                except _TooLarge:
                    if len(records) > 1:
                        size = max(1, len(records) // 2)
                        continue
                    receipts = {records[0]["id"]: (REJECTED, TOO_LARGE)}
                finally:
                    if applying is not None:
                        tally.add(*applying.result())
                tally.sent += len(records)
                unapplied = receipts
                if len(records) < size:
                    break
        finally:
            if unapplied:
                tally.add(*self._apply(unapplied))

    def _apply(self, receipts: Mapping[str, tuple[str, str]]) -> tuple[int, int]:
        """Record one batch's receipts in the store; returns (stored, quarantined)."""
        ok = [rid for rid, (status, _) in receipts.items() if status in STORED]
        bad = {
            rid: f"{status}: {detail}" for rid, (status, detail) in receipts.items() if status not in STORED
        }
        changed = self.store.mark_synced(ok) if ok else 0
        changed += self.store.quarantine(bad) if bad else 0
        if not changed:
            raise _Failed("the store did not record the receipts")
        if bad:
            log.info("quarantined (reasons in the admin screen): %s", ", ".join(bad))
        return len(ok), len(bad)

    def _encode(self, records: list[dict[str, Any]]) -> bytes:
        status = KioskStatus(self.app_version, self._pending(), self._oldest_age(), iso(utc_now()))
        return json.dumps(envelope(records, status), ensure_ascii=False, separators=(",", ":")).encode()

    def _post(
        self, session: requests.Session, config: KioskConfig, body: bytes, ids: list[str]
    ) -> dict[str, tuple[str, str]]:
        response = self._request(
            session, "POST", config, RESPONSES_PATH, data=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code == 413:
            raise _TooLarge("the server refused the batch as too large")
        if response.status_code != 200:
            raise _Failed(f"the server answered HTTP {response.status_code}", _retry_after(response))
        try:
            receipts = parse_receipts(_json(response), ids)
        except ProtocolError as e:
            raise _Failed(f"not a receipt from our server ({e}); a Wi-Fi login page?") from None
        return {rid: (r.status, r.detail) for rid, r in receipts.items()}

    def _pull_surveys(self, session: requests.Session, config: KioskConfig) -> None:
        headers = {"If-None-Match": self.surveys.etag} if self.surveys.etag else {}
        response = self._request(session, "GET", config, SURVEYS_PATH, headers=headers)
        if response.status_code == 304:
            return
        if response.status_code != 200:
            raise _Failed(f"surveys: the server answered HTTP {response.status_code}", _retry_after(response))
        try:
            data = _json(response)
            if not isinstance(data, dict):
                raise ProtocolError("not an object")
            problems = self.surveys.update(response.headers.get("ETag"), data.get("surveys"))
        except (ProtocolError, ValueError) as e:
            raise _Failed(f"surveys: not our server's answer ({e})") from None
        except OSError as e:
            raise _Failed(f"surveys: cannot keep them on disk ({e})") from None
        if problems:
            raise _Failed(f"surveys: {len(problems)} left out as invalid: {problems[0]}")

    def _request(
        self, session: requests.Session, method: str, config: KioskConfig, path: str, **kwargs: Any
    ) -> requests.Response:
        assert config.server_url is not None
        headers = {"Authorization": f"Bearer {config.token}", **kwargs.pop("headers", {})}
        # verify per request: a Session's own `verify` loses to $REQUESTS_CA_BUNDLE.
        options = {"headers": headers, "verify": config.ca_bundle or True, "allow_redirects": False}
        url = config.server_url + path
        try:
            response = session.request(method, url, timeout=self.timeout, **options, **kwargs)
        except requests.exceptions.SSLError as e:
            raise _Failed(f"the server's certificate is not trusted ({_first_line(e)})") from None
        except requests.RequestException as e:
            raise _Failed(f"server unreachable ({type(e).__name__})") from None
        if response.status_code == 401:
            raise _Unauthorised(NOT_AUTHORISED)
        if 300 <= response.status_code < 400 and response.status_code != 304:
            raise _Failed(f"redirected to {response.headers.get('Location', '?')}; a Wi-Fi login page?")
        return response

    def _pending(self) -> int:
        return self.store.pending_count()

    def _oldest_age(self) -> float | None:
        oldest = self.store.status().get("oldest_pending_at")
        if not oldest:
            return None
        return max(0.0, (utc_now() - parse_iso(oldest)).total_seconds())

    def _finish(self, result: PassResult) -> PassResult:
        now = utc_now()
        self._status = replace(
            self._status,
            last_attempt=now,
            last_success=now if result.error is None else self._status.last_success,
            pending=result.pending,
            quarantined=self.store.status().get("quarantined", 0),
            last_error=result.error,
            authorised=result.authorised,
            enrolled=self.config.enrolled,
        )
        if result.error:
            log.info("sync: %s; %d pending", result.error, result.pending)
        return result


def _json(response: requests.Response) -> Any:
    if response.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        raise ProtocolError(f"content type {response.headers.get('Content-Type')!r}")
    try:
        return response.json()
    except ValueError as e:
        raise ProtocolError(f"body is not JSON ({e})") from None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
