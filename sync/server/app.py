"""The HTTP API of the central server (contract: design.md, "HTTP API, version 1").

Request bodies are read here, not by FastAPI's validation: the envelope is checked as a whole
(413/422), and each record inside it on its own, so one bad record gets a "rejected" receipt
instead of failing the batch. Database work runs in the thread pool, one transaction per request.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kiosk import __version__
from kiosk.record import utc_now
from sync.protocol import HEALTH_PATH, MAX_BATCH, RECEIPT_STATUSES, RESPONSES_PATH, SURVEYS_PATH
from sync.server.admin import install as install_admin
from sync.server.auth import KioskIdentity, authenticate, bearer_token
from sync.server.db import make_engine, prepare_database, reader
from sync.server.ingest import check_batch, store_batch
from sync.server.limits import RateLimiter
from sync.server.phone import install as install_phone_pages
from sync.server.settings import Settings
from sync.server.surveys import ActiveSurveys, SurveyBook, active_surveys

log = logging.getLogger(__name__)

DB_RETRY_AFTER_S = 5
DRAIN_FACTOR = 4
DRAIN_MIN_BYTES = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class ErrorOut(BaseModel):
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]


class ReceiptOut(BaseModel):
    id: str | None
    status: Literal[RECEIPT_STATUSES]  # type: ignore[valid-type]
    detail: str


class ReceiptsOut(BaseModel):
    receipts: list[ReceiptOut]


class SurveysOut(BaseModel):
    surveys: list[dict[str, Any]]


RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A response record (design.md). Each is checked on its own: "
    "a bad one gets a rejected receipt, the others are stored.",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "survey_id": {"type": "string"},
        "survey_version": {"type": "integer", "minimum": 1},
        "kiosk_id": {"type": ["string", "null"]},
        "channel": {"enum": ["kiosk", "phone", "kiosk+phone"]},
        "language": {"type": "string"},
        "started_at": {"type": "string", "format": "date-time"},
        "submitted_at": {"type": "string", "format": "date-time"},
        "status": {"enum": ["completed", "partial", "handed_off"]},
        "answers": {"type": "object"},
        "flags": {"type": "array", "items": {"type": "string"}},
    },
}
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["responses"],
    "properties": {
        "responses": {"type": "array", "maxItems": MAX_BATCH, "items": RECORD_SCHEMA},
        "kiosk": {
            "type": "object",
            "description": "The kiosk's health, recorded with every sync; optional.",
            "properties": {
                "app_version": {"type": "string"},
                "pending": {"type": "integer", "minimum": 0},
                "oldest_pending_age_s": {"type": ["number", "null"], "minimum": 0},
                "clock": {"type": "string", "format": "date-time"},
            },
        },
    },
}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Unknown or revoked kiosk token"},
    429: {
        "model": ErrorOut,
        "description": "Too many failed logins; wait Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "string"}}},
    },
    503: {
        "model": ErrorOut,
        "description": "The database is unavailable; retry later",
        "headers": {"Retry-After": {"schema": {"type": "string"}}},
    },
}

bearer = HTTPBearer(auto_error=False, description="The kiosk token printed by `server add-kiosk`")
# Declares the scheme in the OpenAPI document; the check itself is `_Api.kiosk`, which also
# rate-limits failures.
KioskBearer = Annotated[Any, Security(bearer)]


def create_app(settings: Settings, *, prepare: bool = True) -> FastAPI:
    """The ASGI app; `prepare` migrates the database first (skipped in workers the parent prepared)."""
    engine = make_engine(settings.database_url)
    if prepare:
        prepare_database(engine)
    app = FastAPI(title="Patient feedback kiosk server", version=__version__, docs_url=None, redoc_url=None)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.state.engine = engine
    install_phone_pages(app, engine)
    install_admin(app, engine, settings)
    api = _Api(engine, settings)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, error.status, headers=error.headers)

    @app.exception_handler(DBAPIError)
    async def database_error(_request: Request, error: DBAPIError) -> JSONResponse:
        log.error("database error: %s", type(error.orig).__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"},
            503,
            headers={"Retry-After": str(DB_RETRY_AFTER_S)},
        )

    @app.get(
        HEALTH_PATH,
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "The database is unreachable"}},
    )
    def healthz() -> JSONResponse:
        try:
            with reader(engine).connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError:
            return JSONResponse({"status": "unavailable"}, 503)
        return JSONResponse({"status": "ok"})

    @app.post(
        RESPONSES_PATH,
        response_model=ReceiptsOut,
        summary="Store a batch of response records; one receipt per record",
        responses={
            **ERRORS,
            413: {
                "model": ErrorOut,
                "description": f"More than {MAX_BATCH} records, or a body over the size limit",
            },
            422: {"model": ErrorOut, "description": "The envelope itself is malformed"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ENVELOPE_SCHEMA}},
            }
        },
    )
    async def post_responses(request: Request, _auth: KioskBearer) -> JSONResponse:
        kiosk = await api.kiosk(request)
        body = await _read_body(request, settings.max_body_bytes)
        records, health = await run_in_threadpool(_parse_envelope, body)
        receipts = await run_in_threadpool(api.ingest, kiosk, records, health)
        return JSONResponse({"receipts": receipts})

    @app.get(
        SURVEYS_PATH,
        response_model=SurveysOut,
        summary="The surveys active for the caller's site, with an ETag",
        responses={
            **ERRORS,
            200: {"headers": {"ETag": {"schema": {"type": "string"}}}},
            304: {"description": "Not modified since the ETag in If-None-Match"},
        },
    )
    async def get_surveys(
        request: Request, _auth: KioskBearer, if_none_match: Annotated[str | None, Header()] = None
    ) -> Response:
        kiosk = await api.kiosk(request)
        active = await run_in_threadpool(api.surveys, kiosk)
        if if_none_match and _etag_matches(if_none_match, active.etag):
            return Response(status_code=304, headers={"ETag": active.etag})
        return JSONResponse({"surveys": active.definitions}, headers={"ETag": active.etag})

    return app


class _Api:
    """The database side of the endpoints, run in the thread pool."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self.book = SurveyBook(self.reader)
        self.limiter = RateLimiter(settings.auth_failures_allowed, settings.auth_failure_window_s)

    async def kiosk(self, request: Request) -> KioskIdentity:
        """The calling kiosk, or 401; an address that keeps failing waits (429) before it is checked."""
        address = request.client.host if request.client else "unknown"
        wait = self.limiter.wait(address)
        if wait is not None:
            raise ApiError(
                429, "too many failed logins from this address; try again later", {"Retry-After": str(wait)}
            )
        token = bearer_token(request.headers.get("authorization"))
        kiosk = await run_in_threadpool(self._authenticate, token)
        if kiosk is None:
            self.limiter.record(address)
            raise ApiError(
                401, "kiosk not authorised: unknown or revoked token", {"WWW-Authenticate": "Bearer"}
            )
        return kiosk

    def _authenticate(self, token: str | None) -> KioskIdentity | None:
        with self.reader.connect() as connection:
            return authenticate(connection, token)

    def ingest(self, kiosk: KioskIdentity, records: list[Any], health: Any) -> list[dict[str, Any]]:
        now = utc_now()
        batch = check_batch(self.book, kiosk, records, now)
        with self.engine.begin() as connection:
            return store_batch(connection, kiosk, batch, health, now)

    def surveys(self, kiosk: KioskIdentity) -> ActiveSurveys:
        with self.reader.connect() as connection:
            return active_surveys(connection, kiosk.site)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 once it passes `limit`. An oversized body is still read (up to a point)
    and thrown away, so that the client, still sending, gets the 413 rather than a reset."""
    too_large = ApiError(413, f"the request body is over the {limit} byte limit; send fewer records")
    drain = max(DRAIN_FACTOR * limit, DRAIN_MIN_BYTES)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > drain:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > drain:
            break
    if size > limit:
        raise too_large
    return b"".join(chunks)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:20]} is too large a number")
    return value


def _parse_envelope(body: bytes) -> tuple[list[Any], Any]:
    try:
        data = json.loads(body, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise ApiError(422, 'the body is not JSON: send {"responses": [record, ...]}') from None
    if not isinstance(data, dict) or not isinstance(data.get("responses"), list):
        raise ApiError(422, 'the body must be an object with a "responses" list')
    records = data["responses"]
    if len(records) > MAX_BATCH:
        raise ApiError(413, f"{len(records)} records in one batch; at most {MAX_BATCH}")
    return records, data.get("kiosk")


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


def app_from_env() -> FastAPI:
    """The app in a uvicorn worker process; the parent has already migrated the database."""
    return create_app(Settings.from_env(), prepare=False)
