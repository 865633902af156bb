"""E-mail about new low-score alerts, through the practice's SMTP server, when one is configured.

An e-mail is a log of sorts: it sits in mailboxes, on phones and in backups beyond the server's
control. So it carries no answer text and no keyword, and its subject only says that an alert
exists, for which survey and site, and when it is due; the body links to the alert in the admin
web, where a logged-in admin reads the answers.

Sending happens outside the ingest transaction, in a thread per server process. Each alert is
claimed by moving its `notify_after` forward in one conditional UPDATE, so that several processes
never send one alert twice; a failure is retried with a growing wait, for at most `MAX_AGE`.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import weakref
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Engine, select, update

from kiosk.record import utc_now
from sync.server.admin.accounts import as_utc
from sync.server.admin.alerts import config, reason_words
from sync.server.db import reader
from sync.server.models import Alert
from sync.server.settings import DEFAULT_PUBLIC_URL, Settings

log = logging.getLogger(__name__)

POLL_S = 15.0
AFTER_POKE_S = (0.3, 1.0, 3.0)  # the hook pokes before its transaction commits: look again shortly
CLAIM = timedelta(minutes=2)
MAX_AGE = timedelta(days=1)
BATCH = 20
TIMEOUT_S = 15.0


def alert_message(alert: Any, settings: Settings) -> EmailMessage:
    """The e-mail for one alert: where, when due, and a link; no answers, no keywords."""
    base = (settings.public_url or DEFAULT_PUBLIC_URL).rstrip("/")
    zone = config().time_zone
    due = as_utc(alert.due_at).astimezone(zone)  # type: ignore[union-attr]
    message = EmailMessage()
    message["Subject"] = (
        f"Low-score alert {alert.id}: {alert.survey_id} at {alert.site}, due {due:%a %d %b %H:%M}"
    )
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.smtp_to)
    message["Message-ID"] = make_msgid("alert")
    why = ", ".join(reason_words(json.loads(alert.reasons), with_keywords=False))
    contact = (
        "The patient agreed to be contacted; the details are in the admin web."
        if alert.contact_ok
        else "The patient did not ask to be contacted."
    )
    message.set_content(
        "\n".join(
            [
                f"A response to survey {alert.survey_id} (version {alert.survey_version})"
                + f" at site {alert.site}"
                + (f", kiosk {alert.kiosk_id}," if alert.kiosk_id else "")
                + f" matched {why}.",
                "",
                f"Respond by: {due:%A %d %B %Y %H:%M} ({zone.key})",
                contact,
                "",
                f"Open the alert: {base}/admin/alerts/{alert.id}",
                "",
                "The answers are not in this e-mail, to keep them out of mailboxes; log in to read them.",
            ]
        )
    )
    return message


def send(message: EmailMessage, settings: Settings) -> None:
    """One message through the configured SMTP server; raises OSError or SMTPException."""
    assert settings.smtp_host is not None
    context = ssl.create_default_context()
    if settings.smtp_security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S, context=context
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password or "")
        client.send_message(message)


def send_due(engine: Engine, settings: Settings, now: datetime | None = None) -> int:
    """Send the e-mail of every alert that waits for one; returns how many were sent."""
    now = now or utc_now()
    with reader(engine).connect() as connection:
        waiting = list(
            connection.execute(
                select(Alert.id)
                .where(
                    Alert.notified_at.is_(None), Alert.notify_after <= now, Alert.created_at > now - MAX_AGE
                )
                .order_by(Alert.id)
                .limit(BATCH)
            ).scalars()
        )
    sent = 0
    for alert_id in waiting:
        with engine.begin() as connection:
            claimed = connection.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.notified_at.is_(None), Alert.notify_after <= now)
                .values(notify_after=now + CLAIM, notify_attempts=Alert.notify_attempts + 1)
            ).rowcount
            alert = connection.execute(select(Alert).where(Alert.id == alert_id)).one()
        if claimed != 1:
            continue
        try:
            send(alert_message(alert, settings), settings)
        except (OSError, smtplib.SMTPException) as e:
            wait = timedelta(seconds=min(3600, 30 * 2 ** min(alert.notify_attempts, 7)))
            why = type(e).__name__
            log.warning("alert %d: e-mail not sent (%s); next try in %d s", alert_id, why, wait.seconds)
            with engine.begin() as connection:
                connection.execute(update(Alert).where(Alert.id == alert_id).values(notify_after=now + wait))
            continue
        with engine.begin() as connection:
            connection.execute(update(Alert).where(Alert.id == alert_id).values(notified_at=utc_now()))
        log.info("alert %d: e-mail sent", alert_id)
        sent += 1
    return sent


_notifiers: weakref.WeakSet[Notifier] = weakref.WeakSet()


def poke_notifiers() -> None:
    """A new alert exists (or is about to commit): every notifier in this process looks soon."""
    for notifier in list(_notifiers):
        notifier.poke()


class Notifier:
    """The thread that sends alert e-mails for one server process."""

    def __init__(self, engine: Engine, settings: Settings, poll_s: float = POLL_S) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-mail", daemon=True)

    def start(self) -> None:
        _notifiers.add(self)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(TIMEOUT_S + 5)
        _notifiers.discard(self)

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            poked = self._wake.wait(self.poll_s)
            self._wake.clear()
            for delay in AFTER_POKE_S if poked else (0.0,):
                if self._stop.wait(delay):
                    return
                try:
                    if send_due(self.engine, self.settings):
                        break
                except Exception as e:  # the database may be away; the next round tries again
                    log.error("alert e-mail round failed: %s", type(e).__name__)
