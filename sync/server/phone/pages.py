"""The phone pages: `/p/<token>` finishes a survey begun on a kiosk, `/s/<site>/<survey>` runs a
poster's phone-only survey. Server-rendered, one question a page, no JavaScript.

Every GET only shows; state changes only on POST. A browser joins a visit with a POST ("Continue"
or "Start"), which sets a SameSite=Strict cookie scoped to that link and issues the form token each
later POST must carry. Opening the link again in another browser moves the visit there (the
patient moved from the QR scanner's preview to their browser); the old page's forms then stop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.responses import Response as HttpResponse
from sqlalchemy import Connection, Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from kiosk.flow import Flow, FlowError
from kiosk.handoff import Handoff, HandoffError, read
from kiosk.i18n import N_
from kiosk.record import new_response_id, utc_now
from kiosk.survey import Question, Survey, SurveyError
from sync.protocol import KIOSK_ID_PATTERN
from sync.server.db import reader
from sync.server.merge import MERGED_CHANNEL, insert_response, is_kiosk_half, lock, store_phone_part
from sync.server.models import HandoffPart, Kiosk, Response
from sync.server.phone.limits import DEFAULT_LIMITS, Limiters, PhoneLimits, client_address
from sync.server.phone.texts import PageTexts, language_name, page_languages, preferred, survey_page_languages
from sync.server.phone.visit import (
    HANDOFF_GRACE,
    POSTER_VISIT,
    AnswerProblem,
    Visit,
    cookie_response_id,
    forget_expired,
    load_visit,
    new_visit,
    phone_record,
    read_answer,
    remember,
    restore,
    save_visit,
)
from sync.server.poster import poster_path, published_version
from sync.server.surveys import SurveyBook

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
COOKIE = "visit"
MAX_TOKEN_CHARS = 400
MAX_FORM_BYTES = 64 * 1024
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # read a token's content first; its expiry is judged here
HEADERS = {
    # Answers are on these pages: never cache them, never leak the link (it carries answers).
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

# What a refused link says: (status, title, explanation).
REFUSALS: dict[str, tuple[int, str, str]] = {
    "invalid": (
        404,
        N_("This link isn't valid"),
        N_("Please check that you scanned the whole code, or ask at the front desk."),
    ),
    "revoked": (
        410,
        N_("This link is no longer active"),
        N_("The kiosk that made it has been taken out of use. Please ask at the front desk."),
    ),
    "expired": (
        410,
        N_("This link has expired"),
        N_(
            "Links work for a short time, to keep your answers private. "
            "The answers you gave on the kiosk are kept."
        ),
    ),
    "used": (
        200,
        N_("Thanks, we already have your answers"),
        N_("This survey has been sent. There is nothing more to do."),
    ),
    "stale": (
        409,
        N_("This page is out of date"),
        N_("The survey was opened again somewhere else, or this page waited too long."),
    ),
    "busy": (
        429,
        N_("Please wait a moment"),
        N_("There have been many tries from this network. Please try again in a few minutes."),
    ),
}


@dataclass
class Page:
    """What a handler decided: a page to render, or a redirect, with an optional new cookie."""

    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    redirect: str | None = None
    cookie: tuple[str, str] | None = None  # (value, path)
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """An opened handoff token and the site of the kiosk that made it."""

    handoff: Handoff
    survey: Survey
    site: str


class PhonePages:
    """The handlers; database work runs in the thread pool."""

    def __init__(
        self, engine: Engine, limits: PhoneLimits = DEFAULT_LIMITS, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self.book = SurveyBook(self.reader)
        self.limits = Limiters(limits)
        self.clock = clock
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # ---- handoff links ------------------------------------------------------------------------

    def handoff_get(
        self, token: str, query_lang: str | None, cookie: str | None, accept: str | None, address: str
    ) -> Page:
        opened = self._open(token, address, query_lang, accept)
        if isinstance(opened, Page):
            return opened
        handoff, survey = opened.handoff, opened.survey
        now = self.clock()
        with self.reader.connect() as connection:
            visit = load_visit(connection, handoff.response_id)
            used = _used(connection, handoff)
        bound = visit if visit is not None and visit.bound_to(cookie) else None
        lang = _choose(survey, query_lang, bound.language if bound else None, handoff.language)
        if bound is not None and bound.submitted_at is not None:
            return self._thanks(survey, lang)
        if used or (visit is not None and visit.submitted_at is not None):
            return self._refusal("used", lang, survey)
        if _expired(handoff, bound, now):
            return self._refusal("expired", lang, survey)
        if bound is None:
            base = visit or self._handoff_visit(opened, lang, now)
            flow = restore(survey, base, handoff)
            return self._welcome(survey, flow, lang, handoff=True)
        flow = restore(survey, bound, handoff)
        flow.set_language(lang)
        return self._question(survey, flow, bound)

    def handoff_post(
        self, token: str, form: Mapping[str, list[str]], cookie: str | None, accept: str | None, address: str
    ) -> Page:
        opened = self._open(token, address, _first(form, "lang"), accept)
        if isinstance(opened, Page):
            return opened
        handoff, survey = opened.handoff, opened.survey
        now = self.clock()
        path = f"/p/{token}"
        with self.engine.begin() as connection:
            lock(connection, [handoff.response_id])
            visit = load_visit(connection, handoff.response_id)
            used = _used(connection, handoff)
            bound = visit if visit is not None and visit.bound_to(cookie) else None
            lang = _choose(survey, _first(form, "lang"), bound.language if bound else None, handoff.language)
            if bound is not None and bound.submitted_at is not None:
                return Page(redirect=path)
            if used or (visit is not None and visit.submitted_at is not None):
                return self._refusal("used", lang, survey)
            if _expired(handoff, bound, now):
                return self._refusal("expired", lang, survey)
            if _first(form, "step") == "start":
                fresh = visit is None
                visit = visit or self._handoff_visit(opened, lang, now)
                visit.language = lang
                secret = visit.bind()
                if fresh:
                    forget_expired(connection, now)
                save_visit(connection, visit, new=fresh)
                flow = restore(survey, visit, handoff)
                if flow.current is None:  # the kiosk left nothing to ask: "Send" is all there is
                    self._finish(connection, survey, flow, visit, path, handoff=handoff)
                return Page(redirect=path, cookie=(secret, path))
            if bound is None or not bound.csrf_ok(_first(form, "csrf")):
                return self._refusal("stale", lang, survey, again=path)
            flow = restore(survey, bound, handoff)
            return self._step(connection, survey, flow, bound, form, path, handoff=handoff)

    def _open(self, token: str, address: str, wanted: str | None, accept: str | None) -> Link | Page:
        """The token's content, or the refusal page; bad links count against the address."""
        wait = self.limits.pages.take(address) or self.limits.bad_links.wait(address)
        if wait is not None:
            return self._refusal("busy", _plain_language(wanted, accept), retry_after=wait)
        sites: dict[str, str] = {}
        revoked: set[str] = set()

        def key_for(kiosk_id: str) -> bytes | None:
            if not re.fullmatch(KIOSK_ID_PATTERN, kiosk_id):
                return None
            with self.reader.connect() as connection:
                row = connection.execute(
                    select(Kiosk.handoff_key, Kiosk.site, Kiosk.revoked_at).where(Kiosk.id == kiosk_id)
                ).first()
            if row is None:
                return None
            if row.revoked_at is not None:
                revoked.add(kiosk_id)
                return None
            sites[kiosk_id] = row.site
            return bytes.fromhex(row.handoff_key)

        try:
            if len(token) > MAX_TOKEN_CHARS:
                raise HandoffError("invalid", "too long for a handoff token")
            handoff = read(token, key_for=key_for, survey_for=self._survey, now=NEVER)
        except HandoffError as refused:
            # An unknown kiosk is a made-up link, not a retired one.
            kind = refused.kind if refused.kind != "revoked" or revoked else "invalid"
            if kind == "invalid":
                self.limits.bad_links.take(address)
            return self._refusal(kind, _plain_language(wanted, accept))
        survey = self._survey(handoff.survey_id, handoff.survey_version)
        assert survey is not None  # read() has just found it
        return Link(handoff, survey, sites[handoff.kiosk_id])

    def _survey(self, survey_id: str, version: int) -> Survey | None:
        try:
            return self.book.get(survey_id, version)
        except SurveyError:
            return None

    def _handoff_visit(self, link: Link, lang: str, now: datetime) -> Visit:
        handoff = link.handoff
        return new_visit(
            response_id=handoff.response_id,
            channel=MERGED_CHANNEL,
            survey=link.survey,
            site=link.site,
            kiosk_id=handoff.kiosk_id,
            language=lang,
            started_at=handoff.started_at,
            now=now,
            expires_at=handoff.expires_at + HANDOFF_GRACE,
        )

    # ---- poster surveys -----------------------------------------------------------------------

    def poster_get(
        self,
        site: str,
        survey_id: str,
        query_lang: str | None,
        cookie: str | None,
        accept: str | None,
        address: str,
    ) -> Page:
        wait = self.limits.pages.take(address)
        if wait is not None:
            return self._refusal("busy", _plain_language(query_lang, accept), retry_after=wait)
        survey = self._poster_survey(site, survey_id)
        if survey is None:
            return self._refusal("invalid", _plain_language(query_lang, accept))
        now = self.clock()
        with self.reader.connect() as connection:
            visit = self._poster_visit(connection, site, survey_id, cookie)
        lang = _choose(
            survey,
            query_lang,
            visit.language if visit else None,
            preferred(accept, survey_page_languages(survey.languages)),
        )
        if visit is not None and visit.submitted_at is not None:
            return self._thanks(survey, lang)
        if visit is None or now >= visit.expires_at:
            flow = Flow(survey, lang, now=0.0)
            return self._welcome(survey, flow, lang, handoff=False)
        visit_survey = self._survey(visit.survey_id, visit.survey_version) or survey
        flow = restore(visit_survey, visit, None)
        flow.set_language(_choose(visit_survey, query_lang, visit.language, lang))
        return self._question(visit_survey, flow, visit)

    def poster_post(
        self,
        site: str,
        survey_id: str,
        form: Mapping[str, list[str]],
        cookie: str | None,
        accept: str | None,
        address: str,
    ) -> Page:
        wait = self.limits.pages.take(address)
        if wait is not None:
            return self._refusal("busy", _plain_language(_first(form, "lang"), accept), retry_after=wait)
        survey = self._poster_survey(site, survey_id)
        if survey is None:
            return self._refusal("invalid", _plain_language(_first(form, "lang"), accept))
        now = self.clock()
        path = poster_path(site, survey_id)
        rid = cookie_response_id(cookie)
        with self.engine.begin() as connection:
            if rid is not None:
                lock(connection, [rid])
            visit = self._poster_visit(connection, site, survey_id, cookie)
            lang = _choose(
                survey, _first(form, "lang"), visit.language if visit else None, survey.languages[0]
            )
            if visit is not None and visit.submitted_at is not None:
                # One submission per page session: this browser has sent its answers.
                return self._refusal("used", lang, survey)
            if _first(form, "step") == "start":
                wait = self.limits.poster_starts.take(address)
                if wait is not None:
                    return self._refusal("busy", lang, survey, retry_after=wait)
                visit = new_visit(
                    response_id=new_response_id(),
                    channel="phone",
                    survey=survey,
                    site=site,
                    kiosk_id=None,
                    language=lang,
                    started_at=now,
                    now=now,
                    expires_at=now + POSTER_VISIT,
                )
                secret = visit.bind()
                forget_expired(connection, now)
                save_visit(connection, visit, new=True)
                return Page(redirect=path, cookie=(secret, path))
            if visit is None or now >= visit.expires_at or not visit.csrf_ok(_first(form, "csrf")):
                return self._refusal("stale", lang, survey, again=path)
            visit_survey = self._survey(visit.survey_id, visit.survey_version) or survey
            flow = restore(visit_survey, visit, None)
            return self._step(connection, visit_survey, flow, visit, form, path, address=address)

    def _poster_survey(self, site: str, survey_id: str) -> Survey | None:
        with self.reader.connect() as connection:
            version = published_version(connection, site, survey_id)
        return None if version is None else self._survey(survey_id, version)

    def _poster_visit(
        self, connection: Connection, site: str, survey_id: str, cookie: str | None
    ) -> Visit | None:
        rid = cookie_response_id(cookie)
        visit = load_visit(connection, rid) if rid else None
        if visit is None or not visit.bound_to(cookie) or visit.is_handoff:
            return None
        return visit if (visit.site, visit.survey_id) == (site, survey_id) else None

    # ---- both ---------------------------------------------------------------------------------

    def _step(
        self,
        connection: Connection,
        survey: Survey,
        flow: Flow,
        visit: Visit,
        form: Mapping[str, list[str]],
        path: str,
        *,
        handoff: Handoff | None = None,
        address: str | None = None,
    ) -> Page:
        """Apply one page's answer and move back or on; the last "next" sends the answers."""
        question = flow.current
        if question is None or _first(form, "question") != question.id:
            return Page(redirect=path)  # a page from before (the browser's Back): show where we are
        flow.set_language(_choose(survey, _first(form, "lang"), visit.language, visit.language))
        now = self.clock()
        problem: AnswerProblem | None = None
        try:
            flow.answer(read_answer(question, form.get("answer", [])), now=now.timestamp())
        except AnswerProblem as e:
            problem = e
        except FlowError:
            problem = AnswerProblem(N_("Please choose from the answers shown."))
        if _first(form, "action") == "back":
            flow.back(now=now.timestamp())
            remember(visit, flow, handoff, question.id)
            save_visit(connection, visit, new=False)
            return Page(redirect=path)
        if problem is None and not flow.can_advance:
            problem = AnswerProblem(N_("Please answer this question to go on."))
        if problem is not None:
            return self._question(survey, flow, visit, problem=problem, draft=_first(form, "answer"))
        if flow.next(now=now.timestamp()) is not None:
            remember(visit, flow, handoff, question.id)
            save_visit(connection, visit, new=False)
            return Page(redirect=path)
        return self._finish(connection, survey, flow, visit, path, handoff=handoff, address=address)

    def _finish(
        self,
        connection: Connection,
        survey: Survey,
        flow: Flow,
        visit: Visit,
        path: str,
        *,
        handoff: Handoff | None = None,
        address: str | None = None,
    ) -> Page:
        """Send the answers: a poster's response is stored, a handoff's phone half is merged."""
        now = self.clock()
        remember(visit, flow, handoff, flow.current.id if flow.current else None)
        if address is not None:
            wait = self.limits.poster_submits.take(address)
            if wait is not None:
                save_visit(connection, visit, new=False)
                return self._refusal("busy", flow.language, survey, retry_after=wait, again=path)
        record, part = phone_record(flow, visit, handoff, now)
        if part is not None:
            stored = store_phone_part(connection, part, visit.site, now)
        else:
            stored = insert_response(connection, record, visit.site, now)
        visit.submitted_at = now
        save_visit(connection, visit, new=False)
        if not stored:
            return self._refusal("used", flow.language, survey)
        return Page(redirect=path)

    # ---- pages --------------------------------------------------------------------------------

    def _question(
        self,
        survey: Survey,
        flow: Flow,
        visit: Visit,
        *,
        problem: AnswerProblem | None = None,
        draft: str | None = None,
    ) -> Page:
        lang = flow.language
        question = flow.current
        assert question is not None
        step, steps = flow.progress
        value = flow.answers.get(question.id)
        if problem is not None and question.type == "text":
            value = draft
        context = {
            "survey_title": survey.text(survey.title, lang),
            "languages": _language_links(survey, lang),
            "question": _question_view(survey, question, lang, value),
            "step": step,
            "steps": steps,
            "first": flow.is_first,
            "last": flow.is_last and not _may_lead_on(survey, question),
            "csrf": visit.csrf,
            "problem": problem,
        }
        return Page("phone/question.html", _with(context, lang))

    def _welcome(self, survey: Survey, flow: Flow, lang: str, *, handoff: bool) -> Page:
        step, steps = flow.progress
        context = {
            "survey_title": survey.text(survey.title, lang),
            "welcome": survey.text(survey.welcome, lang),
            "languages": _language_links(survey, lang),
            "handoff": handoff,
            "left": steps - step + 1 if flow.current is not None else 0,
        }
        return Page("phone/welcome.html", _with(context, lang))

    def _thanks(self, survey: Survey, lang: str) -> Page:
        link = survey.review_link
        context = {
            "survey_title": survey.text(survey.title, lang),
            "thank_you": survey.text(survey.thank_you, lang),
            "languages": _language_links(survey, lang),
            "review": {"url": link["url"], "text": survey.text(link["text"], lang)} if link else None,
        }
        return Page("phone/thanks.html", _with(context, lang))

    def _refusal(
        self,
        kind: str,
        lang: str,
        survey: Survey | None = None,
        *,
        retry_after: int | None = None,
        again: str | None = None,
    ) -> Page:
        status, title, explanation = REFUSALS[kind]
        languages = _language_links(survey, lang) if survey else _plain_language_links(lang)
        context = {
            "kind": kind,
            "title": title,
            "explanation": explanation,
            "languages": languages,
            "again": again,
        }
        if survey is not None:
            context["survey_title"] = survey.text(survey.title, lang)
        return Page("phone/refusal.html", _with(context, lang), status=status, retry_after=retry_after)

    def respond(self, page: Page, secure: bool) -> HttpResponse:
        if page.redirect is not None:
            response: HttpResponse = RedirectResponse(page.redirect, status_code=303, headers=HEADERS)
        else:
            html = self.env.get_template(page.template).render(page.context)
            response = HTMLResponse(html, page.status, headers=HEADERS)
        if page.retry_after is not None:
            response.headers["Retry-After"] = str(page.retry_after)
        if page.cookie is not None:
            value, path = page.cookie
            response.set_cookie(COOKIE, value, path=path, httponly=True, samesite="strict", secure=secure)
        return response


def _used(connection: Connection, handoff: Handoff) -> bool:
    """Whether this link's response is complete: the phone's half is in, or something else holds the id."""
    part = connection.execute(
        select(HandoffPart.response_id).where(HandoffPart.response_id == handoff.response_id)
    ).first()
    if part is not None:
        return True
    row = (
        connection.execute(
            select(
                Response.channel,
                Response.status,
                Response.kiosk_id,
                Response.survey_id,
                Response.survey_version,
            ).where(Response.id == handoff.response_id)
        )
        .mappings()
        .first()
    )
    return row is not None and not is_kiosk_half(
        row, handoff.kiosk_id, handoff.survey_id, handoff.survey_version
    )


def _expired(handoff: Handoff, bound: Visit | None, now: datetime) -> bool:
    """Past the link's expiry; a patient who had already started here gets a little longer to finish."""
    if now < handoff.expires_at:
        return False
    return bound is None or now >= bound.expires_at


def _may_lead_on(survey: Survey, question: Question) -> bool:
    """Whether this question's answer can show a later question, so its button must not say "Send"."""
    later = survey.questions[survey.questions.index(question) + 1 :]
    return any(q.show_if and any(c.question == question.id for c in q.show_if.conditions) for q in later)


def _choose(survey: Survey, *wanted: str | None) -> str:
    """The first wanted language that this survey's pages can speak."""
    languages = survey_page_languages(survey.languages)
    return next((lang for lang in wanted if lang in languages), languages[0])


def _plain_language(wanted: str | None, accept: str | None) -> str:
    """The language of a page that has no survey: the one asked for, else the browser's."""
    languages = page_languages()
    return wanted if wanted in languages else preferred(accept, languages)


def _first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    return values[0] if values and isinstance(values[0], str) else None


def _with(context: dict[str, Any], lang: str) -> dict[str, Any]:
    texts = PageTexts(lang)
    return {**context, "lang": lang, "_": texts, "ngettext": texts.plural}


def _language_links(survey: Survey, current: str) -> list[dict[str, Any]]:
    languages = survey_page_languages(survey.languages)
    return [{"code": lang, "name": language_name(lang), "current": lang == current} for lang in languages]


def _plain_language_links(current: str) -> list[dict[str, Any]]:
    return [
        {"code": lang, "name": language_name(lang), "current": lang == current} for lang in page_languages()
    ]


def _question_view(survey: Survey, question: Question, lang: str, value: Any) -> dict[str, Any]:
    """What the template needs to draw one question, every text already in `lang`."""
    text = survey.text
    choices: list[dict[str, Any]] = []
    if question.type in ("single_choice", "multiple_choice"):
        chosen = value if isinstance(value, list) else [value]
        choices = [
            _choice(o.value, text(o.label, lang), o.value in chosen, face=o.face, icon=o.icon)
            for o in question.options
        ]
    elif question.type == "rating":
        choices = [
            _choice(
                str(n),
                text(question.labels[n - 1], lang) if question.labels else str(n),
                value == n,
                face=n if question.style == "faces" else None,
                stars=n if question.style == "stars" else None,
            )
            for n in range(1, 6)
        ]
    elif question.type == "likelihood":
        choices = [_choice(str(n), str(n), value == n) for n in range(11)]
    elif question.type == "yes_no":
        choices = [
            _choice("yes", N_("Yes"), value is True, translate=True),
            _choice("no", N_("No"), value is False, translate=True),
        ]
    return {
        "id": question.id,
        "type": question.type,
        "text": text(question.text, lang),
        "help": text(question.help, lang) if question.help else None,
        "required": question.required,
        "choices": choices,
        "min_label": text(question.min_label, lang) if question.min_label else None,
        "max_label": text(question.max_label, lang) if question.max_label else None,
        "value": value if isinstance(value, str) else "",
        "max_length": question.max_length,
    }


def _choice(
    value: str,
    label: str,
    checked: bool,
    *,
    face: int | None = None,
    icon: str | None = None,
    stars: int | None = None,
    translate: bool = False,
) -> dict[str, Any]:
    return {
        "value": value,
        "label": label,
        "checked": checked,
        "face": face,
        "icon": icon,
        "stars": stars,
        "translate": translate,
    }


def router(pages: PhonePages) -> APIRouter:
    """The routes; HTML forms, so they stay out of the OpenAPI document of the JSON API."""
    api = APIRouter(include_in_schema=False)

    async def form_of(request: Request) -> dict[str, list[str]]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            return {}
        try:
            form = await request.form(max_files=0, max_fields=200)
        except (HTTPException, ValueError):  # a malformed body is an empty form, never a 500
            return {}
        return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    async def serve(request: Request, handler: Callable[..., Page], *args: Any) -> HttpResponse:
        """Run one handler in the thread pool with what every handler reads off the request."""
        page = await run_in_threadpool(
            handler,
            *args,
            request.cookies.get(COOKIE),
            request.headers.get("accept-language"),
            client_address(request),
        )
        return pages.respond(page, secure(request))

    @api.get("/p/{token}")
    async def handoff_page(request: Request, token: str, lang: str | None = None) -> HttpResponse:
        return await serve(request, pages.handoff_get, token, lang)

    @api.post("/p/{token}")
    async def handoff_form(request: Request, token: str) -> HttpResponse:
        return await serve(request, pages.handoff_post, token, await form_of(request))

    @api.get("/s/{site}/{survey_id}")
    async def poster_page(
        request: Request, site: str, survey_id: str, lang: str | None = None
    ) -> HttpResponse:
        return await serve(request, pages.poster_get, site, survey_id, lang)

    @api.post("/s/{site}/{survey_id}")
    async def poster_form(request: Request, site: str, survey_id: str) -> HttpResponse:
        return await serve(request, pages.poster_post, site, survey_id, await form_of(request))

    return api
