"""The admin web's pages: plain HTML forms (Jinja2), no JavaScript needed, readable on a phone.

Every page but the login needs a session. Every form that changes something carries the
session's CSRF token, and the login form a token of its own (a cookie it must match), so another
site cannot post to these forms in an admin's name. Pages are never cached and never framed.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, distinct, select, union
from starlette.background import BackgroundTask

from kiosk.exports import FORMATS, ExportError, ExportOptions, FilterError, RecordFilter
from kiosk.record import STATUSES as RECORD_STATUSES
from kiosk.record import parse_iso, utc_now
from kiosk.survey import CONTACT_DETAILS, CONTACT_OK, Survey, SurveyError, parse_survey
from sync.server.admin import accounts, alerts, dashboard, fleet
from sync.server.admin.accounts import CurrentAdmin, as_utc
from sync.server.admin.exports import MEDIA_TYPES, export_to_file
from sync.server.auth import EnrollmentRefused, check_name
from sync.server.db import reader
from sync.server.models import Kiosk, SurveyVersion
from sync.server.models import Response as ResponseRow
from sync.server.settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static" / "admin"
SESSION_COOKIE = "kiosk_admin"
LOGIN_COOKIE = "kiosk_admin_login"
HOME = "/admin/dashboard"
PERIODS = (7, 30, 90, 365)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # matplotlib's inline SVG carries style attributes; scripts are not needed at all.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

EXPORT_DEFAULTS: dict[str, Any] = {
    "format": "csv",
    "since": "",
    "until": "",
    "survey": "",
    "site": "",
    "labels": "",
    "status": [],
}

Field = Annotated[str, Form()]


class AdminWeb:
    """The handlers, one instance per app; database work runs in FastAPI's thread pool."""

    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self.settings = settings
        self.clock = clock
        self.zone = alerts.config().time_zone
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(
            when=self._when,
            iso_when=lambda text: self._when(parse_iso(text)),
            day=lambda d: f"{d:%a %d %b %Y}",
            pct=lambda v: "—" if v is None else f"{v:.0f}%",
            points=lambda v: "—" if v is None else f"{v:+.0f}",
            duration=fleet.duration,
            reasons=lambda text: ", ".join(alerts.reason_words(json.loads(text), with_keywords=True)),
        )
        self.env.globals["min_count"] = dashboard.MIN_COUNT

    # ---- plumbing ------------------------------------------------------------------------------

    def _when(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return f"{as_utc(moment).astimezone(self.zone):%a %d %b %Y %H:%M}"  # type: ignore[union-attr]

    def render(
        self, name: str, admin: CurrentAdmin | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        if admin is not None:
            with self.reader.connect() as connection:
                context["open_alerts"], context["overdue_alerts"] = alerts.open_counts(
                    connection, self.clock()
                )
        context.setdefault("page", name.removesuffix(".html"))
        html = self.env.get_template(f"admin/{name}").render(admin=admin, **context)
        return secure(HTMLResponse(html, status))

    def admin(self, request: Request) -> CurrentAdmin | None:
        token = request.cookies.get(SESSION_COOKIE)
        return accounts.current_admin(self.engine, token, self.settings, self.clock())

    def to_login(self, request: Request) -> Response:
        """Back to the login page, coming back here afterwards; says so when a session just ended."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        ended = "&ended=1" if request.cookies.get(SESSION_COOKIE) else ""
        response = RedirectResponse(f"/admin/login?next={quote(target, safe='')}{ended}", 303)
        response.delete_cookie(SESSION_COOKIE, path="/admin")
        return secure(response)

    def refuse_form(self, admin: CurrentAdmin | None) -> HTMLResponse:
        return self.render(
            "message.html",
            admin,
            403,
            title="This form has expired",
            message="Please go back, reload the page and try again.",
        )

    # ---- login ---------------------------------------------------------------------------------

    def login_page(self, request: Request, next: str, ended: str, bye: str) -> Response:
        if self.admin(request) is not None:
            return secure(RedirectResponse(safe_next(next), 303))
        notice = ""
        if ended:
            minutes = round(self.settings.admin_idle_timeout_s / 60)
            notice = f"Your session ended after {minutes} minutes without activity. Please log in again."
        elif bye:
            notice = "You are logged out."
        return self.login_form(request, next, notice=notice)

    def login_form(
        self, request: Request, next: str, *, notice: str = "", error: str = "", status: int = 200
    ) -> Response:
        token = secrets.token_urlsafe(32)
        response = self.render(
            "login.html", None, status, csrf=token, next=safe_next(next), notice=notice, error=error
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path="/admin/login",
            httponly=True,
            secure=is_https(request),
            samesite="strict",
        )
        return response

    def login(self, request: Request, username: str, password: str, csrf: str, next: str) -> Response:
        if not accounts.csrf_ok(request.cookies.get(LOGIN_COOKIE) or "", csrf) or not csrf:
            return self.login_form(
                request, next, error="The login form expired. Please try again.", status=403
            )
        address = request.client.host if request.client else "unknown"
        outcome = accounts.login(self.engine, username, password, address, self.settings, self.clock())
        if outcome.token is None:
            status = 429 if outcome.error and outcome.error.startswith("Too many") else 401
            return self.login_form(request, next, error=outcome.error or "", status=status)
        response = secure(RedirectResponse(safe_next(next), 303))
        response.set_cookie(
            SESSION_COOKIE,
            outcome.token,
            path="/admin",
            httponly=True,
            secure=is_https(request),
            samesite="lax",  # the link in an alert e-mail must open the alert while logged in
        )
        response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
        return response

    def logout(self, request: Request, csrf: str) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        if not accounts.csrf_ok(admin.csrf_token, csrf):
            return self.refuse_form(admin)
        accounts.end_session(self.engine, request.cookies.get(SESSION_COOKIE) or "")
        response = secure(RedirectResponse("/admin/login?bye=1", 303))
        response.delete_cookie(SESSION_COOKIE, path="/admin")
        return response

    # ---- dashboard -----------------------------------------------------------------------------

    def survey_versions(self, survey_id: str) -> list[Survey]:
        with self.reader.connect() as connection:
            rows = connection.execute(
                select(SurveyVersion.definition, SurveyVersion.version).where(
                    SurveyVersion.survey_id == survey_id
                )
            ).all()
        versions = []
        for definition, version in rows:
            try:
                versions.append(parse_survey(json.loads(definition), f"{survey_id} v{version}"))
            except SurveyError:
                continue
        return versions

    def choices(self) -> tuple[list[str], list[str]]:
        """Survey ids and sites to choose from."""
        with self.reader.connect() as connection:
            surveys = list(
                connection.execute(
                    select(distinct(SurveyVersion.survey_id)).order_by(SurveyVersion.survey_id)
                ).scalars()
            )
            sites = sorted(
                set(connection.execute(union(select(Kiosk.site), select(ResponseRow.site))).scalars())
            )
        return surveys, sites

    def dashboard_page(self, request: Request, survey: str, site: str, since: str, until: str) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        surveys, sites = self.choices()
        today = self.clock().astimezone(self.zone).date()
        error = ""
        try:
            last = parse_day(until, "until") if until else today
            first = parse_day(since, "since") if since else last - timedelta(days=29)
            if first > last:
                raise ValueError(f"since: {first} is after until: {last}")
            if (last - first).days > 3 * 366:
                raise ValueError("choose a period of at most three years")
        except ValueError as e:
            error, first, last = str(e), today - timedelta(days=29), today
        survey_id = survey if survey in surveys else (surveys[0] if surveys else "")
        if survey and survey not in surveys:
            error = f"survey: no survey {survey!r}"
        chosen_site = site if site in sites else None
        selection = dashboard.Selection(survey_id, chosen_site, first, last, self.zone)
        with self.reader.connect() as connection:
            board = dashboard.build(connection, selection, self.survey_versions(survey_id))
        pictures = draw(board)
        presets = [
            (
                f"{n} days" if n < 365 else "12 months",
                (today - timedelta(days=n - 1)).isoformat(),
                today.isoformat(),
            )
            for n in PERIODS
        ]
        return self.render(
            "dashboard.html",
            admin,
            400 if error else 200,
            board=board,
            charts=pictures,
            surveys=surveys,
            sites=sites,
            chosen={
                "survey": survey_id,
                "site": chosen_site or "",
                "since": first.isoformat(),
                "until": last.isoformat(),
            },
            presets=presets,
            error=error,
        )

    # ---- alerts --------------------------------------------------------------------------------

    def alerts_page(self, request: Request, status: str, survey: str, site: str, owner: str) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        status = status if status in (*alerts.STATUSES, "open", "all") else "open"
        owner = admin.username if owner == "me" else owner
        chosen = alerts.QueueFilter(status, survey or None, site or None, owner or None)
        surveys, sites = self.choices()
        now = self.clock()
        with self.reader.connect() as connection:
            rows, total = alerts.queue(connection, chosen)
            names = accounts.admin_names(connection)
        return self.render(
            "alerts.html",
            admin,
            items=[(a, alerts.is_overdue(a, now)) for a in rows],
            total=total,
            chosen={"status": status, "survey": survey, "site": site, "owner": owner},
            surveys=surveys,
            sites=sites,
            names=names,
        )

    def alert_page(
        self, request: Request, alert_id: int, *, error: str = "", saved: str = "", status: int = 200
    ) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        with self.reader.connect() as connection:
            view = alerts.alert_view(connection, alert_id)
            names = accounts.admin_names(connection)
        if view is None:
            return self.render(
                "message.html", admin, 404, title="No such alert", message=f"There is no alert {alert_id}."
            )
        return self.render(
            "alert.html",
            admin,
            status,
            view=view,
            answers=answer_lines(view.survey, view.record),
            contact=contact_details(view.record),
            overdue=alerts.is_overdue(view.alert, self.clock()),
            names=names,
            statuses=alerts.STATUSES,
            error=error,
            saved=saved,
        )

    def alert_save(
        self, request: Request, alert_id: int, csrf: str, version: str, status: str, owner: str, note: str
    ) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        if not accounts.csrf_ok(admin.csrf_token, csrf):
            return self.refuse_form(admin)
        try:
            with self.engine.begin() as connection:
                done = alerts.update_alert(
                    connection,
                    alert_id,
                    int(version) if version.isdigit() else -1,
                    author=admin.username,
                    status=status,
                    owner=owner or None,
                    note=note,
                    now=self.clock(),
                )
        except alerts.AlertError as e:
            return self.alert_page(request, alert_id, error=str(e), status=400)
        except alerts.AlertChanged as e:
            return self.alert_page(request, alert_id, error=str(e), status=409)
        return secure(RedirectResponse(f"/admin/alerts/{alert_id}?saved={quote(done)}", 303))

    # ---- rules ---------------------------------------------------------------------------------

    def rules_page(
        self, request: Request, *, error: str = "", error_for: str = "", status: int = 200
    ) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        surveys, _ = self.choices()
        with self.reader.connect() as connection:
            rules = alerts.effective_rules(connection)
        items = []
        for survey_id in surveys:
            versions = self.survey_versions(survey_id)
            newest = max(versions, key=lambda s: s.version) if versions else None
            rule = alerts.rules_for(rules, survey_id)
            items.append(
                {
                    "survey_id": survey_id,
                    "survey": newest,
                    "file_rule": json.dumps(newest.low_score.to_json(), ensure_ascii=False)
                    if newest and newest.low_score
                    else "",
                    "rules": rule,
                    "own_rule": json.dumps(rule.own_rule.to_json(), ensure_ascii=False)
                    if rule.own_rule
                    else "",
                    "questions": [
                        (q.id, q.type)
                        for q in (newest.questions if newest else ())
                        if q.takes_answer and q.id != CONTACT_DETAILS
                    ],
                }
            )
        return self.render("rules.html", admin, status, items=items, error=error, error_for=error_for)

    def rules_save(
        self,
        request: Request,
        survey_id: str,
        csrf: str,
        action: str,
        enabled: str,
        use_survey_rule: str,
        own_rule: str,
        keywords: str,
    ) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        if not accounts.csrf_ok(admin.csrf_token, csrf):
            return self.refuse_form(admin)
        versions = self.survey_versions(survey_id)
        if not versions:
            return self.render(
                "message.html",
                admin,
                404,
                title="No such survey",
                message=f"There is no survey {survey_id!r}.",
            )
        try:
            with self.engine.begin() as connection:
                if action == "reset":
                    alerts.forget_rules(connection, survey_id)
                else:
                    alerts.save_rules(
                        connection,
                        max(versions, key=lambda s: s.version),
                        enabled=bool(enabled),
                        use_survey_rule=bool(use_survey_rule),
                        own_rule=own_rule,
                        keywords=keywords,
                        author=admin.username,
                        now=self.clock(),
                    )
        except alerts.AlertError as e:
            return self.rules_page(request, error=str(e), error_for=survey_id, status=400)
        return secure(RedirectResponse(f"/admin/rules#survey-{survey_id}", 303))

    # ---- fleet ---------------------------------------------------------------------------------

    def fleet_page(self, request: Request) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        now = self.clock()
        silent_after = timedelta(hours=self.settings.fleet_silent_hours)
        with self.reader.connect() as connection:
            kiosks = fleet.fleet(connection, now, silent_after)
        return self.render(
            "fleet.html",
            admin,
            kiosks=kiosks,
            silent=[k for k in kiosks if k.silent],
            silent_hours=self.settings.fleet_silent_hours,
            now=now,
            drift_warning=fleet.DRIFT_WARNING_S,
        )

    # ---- exports -------------------------------------------------------------------------------

    def exports_page(
        self, request: Request, *, error: str = "", status: int = 200, chosen: dict[str, Any] | None = None
    ) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        surveys, sites = self.choices()
        return self.render(
            "exports.html",
            admin,
            status,
            formats=FORMATS,
            statuses=RECORD_STATUSES,
            surveys=surveys,
            sites=sites,
            error=error,
            chosen={**EXPORT_DEFAULTS, **(chosen or {})},
        )

    def download(self, request: Request) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        query = request.query_params
        fmt = query.get("format", "")
        site = query.get("site") or None
        chosen = {key: query.get(key, "") for key in ("format", "since", "until", "survey", "site", "labels")}
        chosen["status"] = query.getlist("status")
        try:
            if fmt not in FORMATS:
                raise FilterError(f"format: choose one of {', '.join(FORMATS)}")
            wanted = RecordFilter.parse(
                query.get("since") or None,
                query.get("until") or None,
                query.get("survey") or None,
                query.getlist("status"),
            )
            if site:
                check_name(site, "site")
        except (FilterError, EnrollmentRefused) as e:
            return self.exports_page(request, error=str(e).replace("--", ""), status=400, chosen=chosen)
        folder = Path(tempfile.mkdtemp(prefix="admin-export-"))
        media_type, extension = MEDIA_TYPES[fmt]
        name = download_name(wanted, site, extension)
        try:
            result = export_to_file(
                self.engine,
                folder / name,
                fmt,
                wanted,
                site,
                options=ExportOptions(labels=bool(query.get("labels"))),
                show_progress=False,
            )
        except ExportError as e:
            shutil.rmtree(folder, ignore_errors=True)
            return self.exports_page(request, error=str(e), status=500, chosen=chosen)
        response = FileResponse(
            folder / name,
            media_type=media_type,
            filename=name,
            headers={"X-Export-Count": str(result.count)},
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )
        return secure(response)

    # ---- routes --------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/admin", include_in_schema=False)

        @router.get("")
        def home() -> Response:
            return secure(RedirectResponse(HOME, 303))

        @router.get("/")
        def home_slash() -> Response:
            return secure(RedirectResponse(HOME, 303))

        @router.get("/login")
        def login_page(request: Request, next: str = HOME, ended: str = "", bye: str = "") -> Response:
            return self.login_page(request, next, ended, bye)

        @router.post("/login")
        def login(
            request: Request, username: Field = "", password: Field = "", csrf: Field = "", next: Field = HOME
        ) -> Response:
            return self.login(request, username, password, csrf, next)

        @router.post("/logout")
        def logout(request: Request, csrf: Field = "") -> Response:
            return self.logout(request, csrf)

        @router.get("/dashboard")
        def dashboard_page(
            request: Request, survey: str = "", site: str = "", since: str = "", until: str = ""
        ) -> Response:
            return self.dashboard_page(request, survey, site, since, until)

        @router.get("/alerts")
        def alerts_page(
            request: Request, status: str = "open", survey: str = "", site: str = "", owner: str = ""
        ) -> Response:
            return self.alerts_page(request, status, survey, site, owner)

        @router.get("/alerts/{alert_id}")
        def alert_page(request: Request, alert_id: str, saved: str = "") -> Response:
            if not alert_id.isdigit() or len(alert_id) > 12:
                return self.not_found(request)
            return self.alert_page(request, int(alert_id), saved=saved)

        @router.post("/alerts/{alert_id}")
        def alert_save(
            request: Request,
            alert_id: str,
            csrf: Field = "",
            version: Field = "",
            status: Field = "",
            owner: Field = "",
            note: Field = "",
        ) -> Response:
            if not alert_id.isdigit() or len(alert_id) > 12:
                return self.not_found(request)
            return self.alert_save(request, int(alert_id), csrf, version, status, owner, note)

        @router.get("/rules")
        def rules_page(request: Request) -> Response:
            return self.rules_page(request)

        @router.post("/rules/{survey_id}")
        def rules_save(
            request: Request,
            survey_id: str,
            csrf: Field = "",
            action: Field = "save",
            enabled: Field = "",
            use_survey_rule: Field = "",
            own_rule: Field = "",
            keywords: Field = "",
        ) -> Response:
            return self.rules_save(
                request, survey_id, csrf, action, enabled, use_survey_rule, own_rule, keywords
            )

        @router.get("/fleet")
        def fleet_page(request: Request) -> Response:
            return self.fleet_page(request)

        @router.get("/exports")
        def exports_page(request: Request) -> Response:
            return self.exports_page(request)

        @router.get("/exports/download")
        def download(request: Request) -> Response:
            return self.download(request)

        return router

    def not_found(self, request: Request) -> Response:
        admin = self.admin(request)
        if admin is None:
            return self.to_login(request)
        return self.render("message.html", admin, 404, title="Not found", message="There is no such page.")


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def is_https(request: Request) -> bool:
    """Behind a trusted proxy, uvicorn's proxy headers middleware has already set the scheme."""
    return request.url.scheme == "https"


def safe_next(target: str) -> str:
    """Only a path inside the admin web: a login link must not send anyone elsewhere."""
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/admin")
        or "\\" in target
        or target.startswith("//")
    ):
        return HOME
    return target


def parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f'{name}: "{text[:40]}" is not a date (YYYY-MM-DD)') from None


def download_name(chosen: RecordFilter, site: str | None, extension: str) -> str:
    parts = ["responses", chosen.survey_id or "all-surveys"]
    if site:
        parts.append(site)
    if chosen.since:
        parts.append(f"from-{chosen.since:%Y-%m-%d}")
    if chosen.before:
        parts.append(f"to-{chosen.before - timedelta(microseconds=1):%Y-%m-%d}")
    return "-".join(parts) + f".{extension}"


def draw(board: dashboard.Dashboard) -> dict[str, Any]:
    """Charts for what the dashboard shows; nothing is drawn for a hidden selection."""
    if board.hidden or board.total == 0:
        return {}
    from sync.server.admin import charts  # matplotlib: loaded when a dashboard is first drawn

    pictures: dict[str, Any] = {"per_day": charts.per_day(board.per_day)}
    pictures["questions"] = {
        item.question.id: charts.distribution(item)
        for item in board.distributions
        if not item.hidden and item.bars
    }
    with_fft = board.fft is not None
    with_recommend = bool(board.recommend)
    if (with_fft or with_recommend) and len(board.trends) > 1:
        pictures["trend"] = charts.trend(
            board.trends, board.trend_unit, fft=with_fft, recommend=with_recommend
        )
    return pictures


def answer_lines(survey: Survey | None, record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(question, answer in words, type) for an alert's page; contact details are shown apart."""
    answers = record.get("answers") or {}
    if survey is None:
        return [
            (qid, json.dumps(v, ensure_ascii=False), "")
            for qid, v in answers.items()
            if qid != CONTACT_DETAILS
        ]
    language = survey.languages[0]  # the admin's language, whatever the patient answered in
    lines = []
    for q in survey.questions:
        if q.id in answers and q.id != CONTACT_DETAILS:
            lines.append((survey.text(q.text, language), q.label(answers[q.id], language), q.type))
    return lines


def contact_details(record: dict[str, Any]) -> str | None:
    """Shown only when the patient said yes to being contacted."""
    answers = record.get("answers") or {}
    if answers.get(CONTACT_OK) is not True:
        return None
    details = answers.get(CONTACT_DETAILS)
    return details if isinstance(details, str) else ""
