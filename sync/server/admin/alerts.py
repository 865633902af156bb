"""Low-score alerts: which responses raise one, the queue they join, and the work on each.

A survey's rule decides what counts as a low score. It is made of up to three parts, any of which
raises an alert: the survey file's own `low_score` rule, an extra rule of the practice's own, and
keywords searched in the free-text answers. Per survey, `alert_rules` in settings.json sets them,
and the admin web's rules page overrides that.

Alerts are made by `on_response_stored`, called in the transaction that stores a response (by
ingest, and by the phone pages when a merged response is stored), so an alert exists exactly when
its response does; a response raises at most one alert, whatever path stores it again.
Logs carry alert and response ids only, never answer text.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiosk.conditions import Rule
from kiosk.record import utc_now
from kiosk.survey import CONTACT_DETAILS, CONTACT_OK, Survey, SurveyError, check_survey, parse_survey
from sync.server.admin.accounts import as_utc
from sync.server.models import Admin, Alert, AlertNote, AlertRule, Response, SurveyVersion
from sync.server.settings import Settings, SettingsError

log = logging.getLogger(__name__)

STATUSES = ("new", "contacted", "resolved")
OPEN = ("new", "contacted")
SURVEY_RULE, OWN_RULE, KEYWORD = "survey_rule", "own_rule", "keyword"
MAX_KEYWORDS = 200
MAX_NOTE = 4000


class AlertError(ValueError):
    """A rule or a change the admin typed that cannot be used; the message says where and what."""


class AlertChanged(Exception):
    """Someone else saved the alert first; the form is out of date."""


@dataclass(frozen=True, slots=True)
class AlertRules:
    """What raises an alert for one survey (every version of it)."""

    enabled: bool = True
    use_survey_rule: bool = True
    own_rule: Rule | None = None
    keywords: tuple[str, ...] = ()
    source: str = "survey file"

    def reasons(self, survey: Survey | None, answers: Mapping[str, Any]) -> list[str]:
        """Why these answers raise an alert (empty: they do not)."""
        if not self.enabled or not isinstance(answers, Mapping):
            return []
        reasons = []
        if self.use_survey_rule and survey is not None and survey.is_low_score(answers):
            reasons.append(SURVEY_RULE)
        if self.own_rule is not None and self.own_rule.holds(answers):
            reasons.append(OWN_RULE)
        if self.keywords:
            found = _keyword_pattern(self.keywords).search(_searchable(survey, answers))
            if found:
                reasons.append(f"{KEYWORD}:{found.group(0)}")
        return reasons


@dataclass(frozen=True)
class AlertConfig:
    """The process-wide part of alerting, from the server's settings."""

    service_days: float = 2.0
    time_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    rules: Mapping[str, AlertRules] = field(default_factory=dict)


_config = AlertConfig()


def configure(settings: Settings) -> AlertConfig:
    """Take the service level, time zone and settings.json rules; the server calls this at start."""
    global _config
    rules = {}
    for survey_id, data in settings.alert_rules.items():
        try:
            rules[survey_id] = rules_from_json(data, "settings.json")
        except AlertError as e:
            raise SettingsError(f"settings.json: alert_rules.{survey_id}: {e}") from None
    _config = AlertConfig(settings.alert_service_days, ZoneInfo(settings.time_zone), rules)
    return _config


def config() -> AlertConfig:
    return _config


def rules_from_json(data: Any, source: str) -> AlertRules:
    """{"enabled": bool, "use_survey_rule": bool, "rule": CONDITION, "keywords": [TEXT, ...]}."""
    if not isinstance(data, dict):
        raise AlertError("must be an object")
    unknown = set(data) - {"enabled", "use_survey_rule", "rule", "keywords"}
    if unknown:
        raise AlertError(f"{sorted(unknown)[0]}: not a rule setting")
    for key in ("enabled", "use_survey_rule"):
        if not isinstance(data.get(key, True), bool):
            raise AlertError(f"{key}: must be true or false")
    keywords = data.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise AlertError("keywords: must be a list of words")
    return AlertRules(
        enabled=data.get("enabled", True),
        use_survey_rule=data.get("use_survey_rule", True),
        own_rule=parse_rule(data["rule"]) if data.get("rule") is not None else None,
        keywords=clean_keywords(keywords),
        source=source,
    )


def parse_rule(data: Any, survey: Survey | None = None) -> Rule:
    """A condition in the survey file's grammar; checked against `survey` when given.

    The survey's own checker judges it, as if it were the file's low_score rule, so the admin web
    says exactly what a survey check would say.
    """
    if not isinstance(data, dict):
        raise AlertError('a rule is an object such as {"question": "recommend", "lte": 6}')
    if survey is not None:
        problems = [
            p for p in check_survey({**survey.raw, "low_score": data}) if p.where.startswith("low_score")
        ]
        if problems:
            raise AlertError(
                "; ".join(f"{p.where.replace('low_score', 'rule', 1)}: {p.what}" for p in problems)
            )
    try:
        return Rule.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise AlertError(
            'not a rule: use {"question": ID, OP: VALUE} or {"any": [...]} / {"all": [...]}'
        ) from None


def clean_keywords(words: Iterable[str]) -> tuple[str, ...]:
    kept = dict.fromkeys(_fold(w).strip() for w in words)
    kept.pop("", None)
    if len(kept) > MAX_KEYWORDS:
        raise AlertError(f"keywords: at most {MAX_KEYWORDS}")
    return tuple(kept)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


_patterns: dict[tuple[str, ...], re.Pattern[str]] = {}


def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words: a keyword that starts (or ends) with a letter or digit must not continue a
    longer word there. Scripts written without spaces between words (Chinese, Japanese, Thai) have
    no such edges, so there a keyword is found anywhere."""
    pattern = _patterns.get(keywords)
    if pattern is None:
        parts = []
        for word in sorted({_fold(k) for k in keywords}, key=len, reverse=True):
            before = r"(?<!\w)" if _spaced(word[0]) else ""
            after = r"(?!\w)" if _spaced(word[-1]) else ""
            parts.append(before + re.escape(word) + after)
        pattern = _patterns[keywords] = re.compile("|".join(parts))
    return pattern


UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def _spaced(char: str) -> bool:
    """A letter or digit of a script that separates its words with spaces."""
    return char.isalnum() and not unicodedata.name(char, "").startswith(UNSPACED_SCRIPTS)


def _searchable(survey: Survey | None, answers: Mapping[str, Any]) -> str:
    """The free text of a response, folded; never the contact details, which are not feedback."""
    texts = []
    for qid, value in answers.items():
        if qid == CONTACT_DETAILS or not isinstance(value, str):
            continue
        question = survey.question(qid) if survey else None
        if question is None or question.type == "text":
            texts.append(_fold(value))
    return "\n".join(texts)


def due_time(created: datetime, days: float, zone: ZoneInfo) -> datetime:
    """`created` plus `days` working days, counting Monday to Friday only, in the practice's zone.

    An alert raised on a Saturday starts its clock on Monday at midnight.
    """
    remaining = timedelta(days=days)
    moment = created.astimezone(zone)
    while True:
        if moment.weekday() >= 5:
            monday = moment + timedelta(days=7 - moment.weekday())
            moment = monday.replace(hour=0, minute=0, second=0, microsecond=0)
            continue
        midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        if remaining <= midnight - moment:
            return (moment + remaining).astimezone(UTC)
        remaining -= midnight - moment
        moment = midnight


def effective_rules(connection: Connection) -> dict[str, AlertRules]:
    """Per survey id: the admin web's rules, else settings.json's; a survey in neither uses its file."""
    rules = dict(_config.rules)
    for row in connection.execute(select(AlertRule)):
        try:
            own = parse_rule(json.loads(row.own_rule)) if row.own_rule else None
        except (AlertError, ValueError):
            log.error("alert rule of survey %s is unreadable; using the survey file's rule", row.survey_id)
            continue
        rules[row.survey_id] = AlertRules(
            row.enabled, row.use_survey_rule, own, tuple(json.loads(row.keywords)), "admin web"
        )
    return rules


def rules_for(rules: Mapping[str, AlertRules], survey_id: str) -> AlertRules:
    return rules.get(survey_id) or AlertRules()


_parsed: dict[str, Survey] = {}


def _surveys(connection: Connection, keys: set[tuple[str, int]]) -> dict[tuple[str, int], Survey | None]:
    """Survey versions by (id, version); parsed ones are kept by content digest, which never changes."""
    found: dict[tuple[str, int], Survey | None] = dict.fromkeys(keys)
    if not keys:
        return found
    ids = sorted({survey_id for survey_id, _ in keys})
    rows = connection.execute(
        select(SurveyVersion.survey_id, SurveyVersion.version, SurveyVersion.digest).where(
            SurveyVersion.survey_id.in_(ids)
        )
    )
    for row in rows:
        key = (row.survey_id, row.version)
        if key not in found:
            continue
        if row.digest not in _parsed:
            definition = connection.execute(
                select(SurveyVersion.definition).where(
                    SurveyVersion.survey_id == row.survey_id, SurveyVersion.version == row.version
                )
            ).scalar_one()
            try:
                _parsed[row.digest] = parse_survey(json.loads(definition), f"{row.survey_id} v{row.version}")
            except SurveyError:
                continue
        found[key] = _parsed[row.digest]
    return found


def on_response_stored(
    target: Connection | Session, record: Mapping[str, Any], survey: Survey | None = None
) -> int | None:
    """The hook: call it after a response is written, inside the same transaction.

    Raises an alert when the response's answers match its survey's rule and it has none yet;
    returns the new alert's id, or None. `survey` saves a lookup when the caller has it.
    """
    connection = target.connection() if isinstance(target, Session) else target
    given = {(survey.id, survey.version): survey} if survey is not None else None
    made = on_responses_stored(connection, [record], given)
    return made[0] if made else None


def on_responses_stored(
    connection: Connection,
    records: Sequence[Mapping[str, Any]],
    surveys: Mapping[tuple[str, int], Survey | None] | None = None,
    *,
    stored_as: tuple[str, str | None] | None = None,
) -> list[int]:
    """`on_response_stored` for a batch: one read of the rules and one insert for all of them.

    `stored_as` is the (site, kiosk id) under which the caller has just stored every one of the
    records, in this transaction (ingest knows it): the hook then need not read them back.
    """
    if not records:
        return []
    rules = effective_rules(connection)
    keys = {(r["survey_id"], r["survey_version"]) for r in records}
    known = dict(surveys or {})
    known.update(_surveys(connection, keys - known.keys()))
    matched = []
    for record in records:
        survey_rules = rules_for(rules, record["survey_id"])
        if not survey_rules.enabled:
            continue
        answers = record.get("answers") or {}
        reasons = survey_rules.reasons(known.get((record["survey_id"], record["survey_version"])), answers)
        if reasons:
            matched.append((record, reasons))
    if not matched:
        return []
    placed: dict[str, tuple[str, str | None]] = {}
    if stored_as is None:
        wanted = [record["id"] for record, _ in matched]
        placed = {
            row.id: (row.site, row.kiosk_id)
            for row in connection.execute(
                select(Response.id, Response.site, Response.kiosk_id).where(Response.id.in_(wanted))
            )
        }
    on_postgresql = connection.dialect.name == "postgresql"
    now = utc_now()
    due = due_time(now, _config.service_days, _config.time_zone)
    # PostgreSQL reads the rows as one JSON text: format the batch's two times once, not per row.
    created, due_at = (now.isoformat(), due.isoformat()) if on_postgresql else (now, due)
    reason_texts: dict[tuple[str, ...], str] = {}  # most alerts of a batch share their reasons
    rows = []
    for record, reasons in matched:
        place = stored_as or placed.get(record["id"])
        if place is None:
            log.error(
                "alert hook: response %s is not stored yet; call the hook after storing it", record["id"]
            )
            continue
        key = tuple(reasons)
        if key not in reason_texts:
            reason_texts[key] = json.dumps(reasons, ensure_ascii=False)
        rows.append(
            {
                "response_id": record["id"],
                "survey_id": record["survey_id"],
                "survey_version": record["survey_version"],
                "site": place[0],
                "kiosk_id": place[1],
                "reasons": reason_texts[key],
                "contact_ok": (record.get("answers") or {}).get(CONTACT_OK) is True,
                "created_at": created,
                "due_at": due_at,
                "status": "new",
                "owner": None,
                "version": 1,
                "updated_at": created,
                "resolved_at": None,
                "notified_at": None,
                "notify_after": created,
                "notify_attempts": 0,
            }
        )
    if not rows:
        return []
    if on_postgresql:
        # One JSON parameter that PostgreSQL unpacks, as ingest does: psycopg takes far longer to
        # build a VALUES list of hundreds of rows.
        made_ids = list(
            connection.execute(_PG_INSERT, {"rows": json.dumps(rows, ensure_ascii=False)}).scalars()
        )
    else:
        statement = (
            sqlite.insert(Alert).on_conflict_do_nothing(index_elements=["response_id"]).returning(Alert.id)
        )
        made_ids = list(connection.execute(statement, rows).scalars())
    if made_ids:
        log.info("low-score alert(s) %s raised", ", ".join(map(str, made_ids)))
        from sync.server.mail import poke_notifiers

        poke_notifiers()
    return made_ids


_NEW_COLUMNS = [c for c in Alert.__table__.columns if c.name != "id"]
_PG_INSERT = text(
    f"INSERT INTO alerts ({', '.join(c.name for c in _NEW_COLUMNS)}) "
    f"SELECT {', '.join(c.name for c in _NEW_COLUMNS)} FROM json_to_recordset(CAST(:rows AS json)) AS r("
    + ", ".join(f"{c.name} {c.type.compile(dialect=postgresql.dialect())}" for c in _NEW_COLUMNS)
    + ") ON CONFLICT (response_id) DO NOTHING RETURNING id"
)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str = "open"
    survey_id: str | None = None
    site: str | None = None
    owner: str | None = None


def queue(connection: Connection, chosen: QueueFilter, limit: int = 200) -> tuple[list[Any], int]:
    """Alerts as the queue shows them, soonest due first (newest first for resolved); and how many."""
    where = []
    if chosen.status == "open":
        where.append(Alert.status.in_(OPEN))
    elif chosen.status in STATUSES:
        where.append(Alert.status == chosen.status)
    if chosen.survey_id:
        where.append(Alert.survey_id == chosen.survey_id)
    if chosen.site:
        where.append(Alert.site == chosen.site)
    if chosen.owner == "-":
        where.append(Alert.owner.is_(None))
    elif chosen.owner:
        where.append(Alert.owner == chosen.owner)
    condition = and_(*where) if where else None
    order = (
        (Alert.resolved_at.desc(), Alert.id.desc())
        if chosen.status == "resolved"
        else (Alert.due_at, Alert.id)
    )
    statement = select(Alert).order_by(*order).limit(limit)
    counting = select(func.count()).select_from(Alert)
    if condition is not None:
        statement = statement.where(condition)
        counting = counting.where(condition)
    return list(connection.execute(statement)), connection.execute(counting).scalar_one()


def open_counts(connection: Connection, now: datetime) -> tuple[int, int]:
    """(open alerts, overdue ones), for the menu."""
    opened = connection.execute(
        select(func.count()).select_from(Alert).where(Alert.status.in_(OPEN))
    ).scalar_one()
    overdue = connection.execute(
        select(func.count()).select_from(Alert).where(Alert.status.in_(OPEN), Alert.due_at < now)
    ).scalar_one()
    return opened, overdue


@dataclass
class AlertView:
    alert: Any
    record: dict[str, Any]
    survey: Survey | None
    notes: list[Any]


def alert_view(connection: Connection, alert_id: int) -> AlertView | None:
    alert = connection.execute(select(Alert).where(Alert.id == alert_id)).first()
    if alert is None:
        return None
    payload = connection.execute(
        select(Response.payload).where(Response.id == alert.response_id)
    ).scalar_one()
    record = json.loads(payload)
    survey = _surveys(connection, {(alert.survey_id, alert.survey_version)})[
        (alert.survey_id, alert.survey_version)
    ]
    notes = list(
        connection.execute(select(AlertNote).where(AlertNote.alert_id == alert_id).order_by(AlertNote.id))
    )
    return AlertView(alert, record, survey, notes)


def update_alert(
    connection: Connection,
    alert_id: int,
    version: int,
    *,
    author: str,
    status: str,
    owner: str | None,
    note: str,
    now: datetime,
) -> str:
    """Save one round of work on an alert; returns what changed, in words (also kept as history)."""
    if status not in STATUSES:
        raise AlertError(f"status: one of {', '.join(STATUSES)}")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise AlertError(f"the note is {len(note)} characters; at most {MAX_NOTE}")
    if owner and connection.execute(select(Admin.id).where(Admin.username == owner)).first() is None:
        raise AlertError(f"owner: no admin named {owner!r}")
    alert = connection.execute(select(Alert).where(Alert.id == alert_id)).first()
    if alert is None:
        raise AlertError(f"no alert {alert_id}")
    changes = []
    if status != alert.status:
        changes.append(f"status {alert.status} → {status}")
    if (owner or None) != alert.owner:
        changes.append(f"owner {alert.owner or 'nobody'} → {owner or 'nobody'}")
    if not changes and not note:
        return "nothing to save"
    values: dict[str, Any] = {
        "status": status,
        "owner": owner or None,
        "version": version + 1,
        "updated_at": now,
    }
    if status == "resolved" and alert.status != "resolved":
        values["resolved_at"] = now
    elif status != "resolved":
        values["resolved_at"] = None
    done = connection.execute(
        update(Alert).where(Alert.id == alert_id, Alert.version == version).values(**values)
    )
    if done.rowcount != 1:
        raise AlertChanged(f"alert {alert_id} was changed by someone else meanwhile; reload it and try again")
    change = "; ".join(changes)
    connection.execute(
        insert(AlertNote).values(alert_id=alert_id, author=author, created_at=now, change=change, body=note)
    )
    log.info("alert %d updated by %s: %s", alert_id, author, change or "note added")
    return change or "note added"


def save_rules(
    connection: Connection,
    survey: Survey,
    *,
    enabled: bool,
    use_survey_rule: bool,
    own_rule: str,
    keywords: str,
    author: str,
    now: datetime,
) -> AlertRules:
    """Check and keep the rules typed in the admin web for a survey (all its versions)."""
    data = None
    if own_rule.strip():
        try:
            data = json.loads(own_rule)
        except ValueError as e:
            raise AlertError(f"rule: not JSON ({e})") from None
        parse_rule(data, survey)
    words = clean_keywords(re.split(r"[\n,]", keywords))
    values = {
        "enabled": enabled,
        "use_survey_rule": use_survey_rule,
        "own_rule": json.dumps(data, ensure_ascii=False) if data is not None else None,
        "keywords": json.dumps(list(words), ensure_ascii=False),
        "updated_at": now,
        "updated_by": author,
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AlertRule).values(survey_id=survey.id, **values)
    connection.execute(statement.on_conflict_do_update(index_elements=["survey_id"], set_=values))
    log.info("alert rules of survey %s changed by %s", survey.id, author)
    return effective_rules(connection)[survey.id]


def forget_rules(connection: Connection, survey_id: str) -> None:
    """Back to settings.json (or the survey file) for this survey."""
    connection.execute(AlertRule.__table__.delete().where(AlertRule.survey_id == survey_id))


def reason_words(reasons: Iterable[str], *, with_keywords: bool) -> list[str]:
    """Reasons in words; e-mails leave the keyword out, since it is a word the patient wrote."""
    words = []
    for reason in reasons:
        if reason == SURVEY_RULE:
            words.append("the survey's low-score rule")
        elif reason == OWN_RULE:
            words.append("the practice's own rule")
        elif reason.startswith(KEYWORD + ":"):
            words.append(f'the keyword "{reason.split(":", 1)[1]}"' if with_keywords else "a keyword")
    return words


def is_overdue(alert: Any, now: datetime) -> bool:
    due = as_utc(alert.due_at)
    return alert.status in OPEN and due is not None and due < now
