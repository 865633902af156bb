"""The phone pages: a patient finishes a kiosk survey on their own phone, or answers a poster's.

`install(app, engine)` mounts them on the server's app. See docs/handoff.md.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from sync.server.phone.limits import DEFAULT_LIMITS, PhoneLimits
from sync.server.phone.pages import PhonePages, router

STATIC = Path(__file__).resolve().parent.parent / "static" / "phone"
ACCESS_LOGGER = "uvicorn.access"
_TOKEN_PATH = re.compile(r"/p/[^/?#\s]+")


class RedactHandoffLinks(logging.Filter):
    """Keeps handoff tokens out of the access log: a token carries the kiosk's answers (compactly)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_PATH.sub("/p/<token>", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_PATH.sub("/p/<token>", record.msg)
        return True


def install(app: FastAPI, engine: Engine, limits: PhoneLimits = DEFAULT_LIMITS) -> PhonePages:
    """Add the phone pages, their stylesheet, and the access-log redaction to `app`."""
    pages = PhonePages(engine, limits)
    app.state.phone_pages = pages
    app.mount("/static/phone", StaticFiles(directory=STATIC), name="phone-static")
    app.include_router(router(pages))
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactHandoffLinks) for f in access.filters):
        access.addFilter(RedactHandoffLinks())
    return pages
