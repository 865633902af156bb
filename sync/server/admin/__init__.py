"""The admin web at /admin: login, dashboard, low-score alerts, fleet, exports (docs/admin.md).

`install` adds it to the server's app. Whatever stores a response calls the alert hook,
`sync.server.admin.alerts.on_response_stored`, in the same transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from sync.server.admin.web import AdminWeb
    from sync.server.settings import Settings


def install(app: FastAPI, engine: Engine, settings: Settings) -> AdminWeb:
    """Mount the pages and their stylesheet; with SMTP configured, send alert e-mails while serving."""
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool

    from sync.server.admin import alerts
    from sync.server.admin.web import STATIC, AdminWeb
    from sync.server.mail import Notifier

    alerts.configure(settings)
    web = AdminWeb(engine, settings)
    app.state.admin_web = web
    app.mount("/static/admin", StaticFiles(directory=STATIC), name="admin-static")
    app.include_router(web.router())
    if settings.smtp_enabled:
        notifier = Notifier(engine, settings)
        outer = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(running: Any) -> AsyncIterator[Any]:
            notifier.start()
            try:
                async with outer(running) as state:
                    yield state
            finally:
                await run_in_threadpool(notifier.stop)

        app.router.lifespan_context = lifespan
    return web
