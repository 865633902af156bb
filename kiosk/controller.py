"""One visit at the kiosk, from the welcome screen to the thank-you, as plain state.

The screens are thin: they render what this controller holds and forward every tap to it. Every
rule that protects a patient or an answer lives here, where tests drive it with a fake clock and no
window: the idle timeout and its "Still there?" countdown, the honest thank-you (shown only once
the store has the answers), the reset between patients, the too-fast flags, and the admin PIN's
lockout. Slow work (saving, checking a PIN hash) goes through `background`, which the app runs on a
worker thread and which tests run inline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from kiosk.config import PIN_MAX, KioskConfig
from kiosk.credentials import derive_handoff_key
from kiosk.flow import Flow
from kiosk.handoff import mint, url
from kiosk.i18n import Texts, offered_languages
from kiosk.record import utc_now
from kiosk.survey import Question, Survey

if TYPE_CHECKING:
    from kiosk.admin import KioskAdmin

Phase = Literal["welcome", "question", "thank_you", "save_failed", "admin", "handoff"]
Job = Callable[[], Any]
Done = Callable[[Any], None]
Background = Callable[[Job, Done], None]

CORNER_HOLD_SECONDS = 3.0
PIN_ATTEMPTS = 5
PIN_LOCK_SECONDS = 300.0
# The PIN pad and the admin screen close by themselves, so a forgotten one never faces a patient.
PIN_IDLE_SECONDS = 30.0
ADMIN_IDLE_SECONDS = 120.0
SAVE_FAILED_SECONDS = 20.0


class Store(Protocol):
    def save(self, record: dict[str, Any]) -> None: ...

    def count(self) -> int: ...

    def pending_count(self) -> int: ...

    def status(self) -> dict[str, Any]: ...


def run_inline(job: Job, done: Done) -> None:
    """The synchronous `background`: for tests and for tools that have no UI to keep alive."""
    try:
        result = job()
    except Exception as exc:
        result = exc
    done(result)


@dataclass(frozen=True)
class QuestionView:
    """Everything a question screen draws; built by the controller, or by the preview for any question."""

    survey: Survey
    question: Question
    language: str
    step: int
    steps: int
    value: Any = None
    draft: str = ""
    can_advance: bool = False
    is_first: bool = False
    is_last: bool = False
    can_hand_off: bool = False

    def text(self, texts: Any) -> str:
        return self.survey.text(texts, self.language) if texts else ""

    @classmethod
    def preview(
        cls, survey: Survey, question: Question, language: str, *, can_hand_off: bool = False
    ) -> QuestionView:
        """A question as it first appears, at its place among all the survey's questions."""
        position = survey.questions.index(question)
        return cls(
            survey,
            question,
            language,
            step=position + 1,
            steps=len(survey.questions),
            can_advance=not question.required,
            is_first=position == 0,
            is_last=position == len(survey.questions) - 1,
            can_hand_off=can_hand_off,
        )


@dataclass(frozen=True)
class AdminStatus:
    stored: int
    pending: int
    last_error: str | None
    unsaved: int
    today: int | None = None
    quarantined: int = 0


@dataclass(frozen=True)
class SaveOutcome:
    saved: int
    unsaved: list[dict[str, Any]]
    error: str | None


class KioskController:
    """The kiosk's state between taps; call `tick()` a few times a second to let time pass."""

    def __init__(
        self,
        survey: Survey,
        config: KioskConfig,
        store: Store,
        *,
        clock: Callable[[], float] = time.monotonic,
        background: Background = run_inline,
        updated_survey: Callable[[str], Survey | None] | None = None,
        admin: KioskAdmin | None = None,
        after_save: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.background = background
        self.updated_survey = updated_survey
        self.after_save = after_save
        self._use_survey(survey)
        self._listeners: list[Callable[[], None]] = []
        now = clock()
        self.phase: Phase = "welcome"
        self.language = self.languages[0]
        self.texts = Texts(self.language)
        self.large_text = config.large_text
        self.high_contrast = config.high_contrast
        self.flow: Flow | None = None
        self.draft = ""
        self.saving = False
        self.still_there = False
        self.countdown = 0
        self.resets = 0
        self.last_error: str | None = None
        self.unsaved: list[dict[str, Any]] = []
        self.admin_status: AdminStatus | None = None
        self.exit_requested = False
        self.handoff_url: str | None = None
        self.pin_open = False
        self.pin_entry = ""
        self.pin_checking = False
        self.pin_failures = 0
        self.pin_locked_until: float | None = None
        self.pin_wrong = False
        self._phase_since = now
        self._last_touch = now
        self._pin_touched = now
        self._corner_since: float | None = None
        self._last_completed: tuple[dict[str, Any], float] | None = None
        self.admin = admin
        if admin is not None:
            admin.attach(
                background=background,
                changed=self._changed,
                use_survey=self.switch_survey,
                current=lambda: self.survey,
            )

    def _use_survey(self, survey: Survey) -> None:
        self.survey = survey
        self.languages = offered_languages(survey.languages) or [survey.languages[0]]
        self.idle_seconds = float(self.config.idle_seconds or survey.idle.question_seconds)
        self.thank_you_seconds = float(self.config.thank_you_seconds or survey.idle.thank_you_seconds)

    # -- observers -----------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after every change, so the screens can render the new state."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- what the screens show -------------------------------------------------------------------

    @property
    def question_view(self) -> QuestionView | None:
        flow = self.flow
        if flow is None or self.phase != "question" or flow.current is None:
            return None
        q = flow.current
        step, steps = flow.progress
        return QuestionView(
            self.survey,
            q,
            self.language,
            step=step,
            steps=steps,
            value=flow.answers.get(q.id),
            draft=self.draft,
            can_advance=flow.can_advance and not self.saving,
            is_first=flow.is_first,
            is_last=flow.is_last,
            can_hand_off=self.can_hand_off and not self.saving,
        )

    @property
    def allows_exit(self) -> bool:
        """Escape and the window's close button work on the admin screen only, and not mid-export."""
        return self.phase == "admin" and not self._admin_busy

    @property
    def _admin_busy(self) -> bool:
        return self.admin is not None and self.admin.busy

    @property
    def pin_locked_seconds(self) -> int:
        """Seconds left in a PIN lockout; 0 when the pad takes PINs."""
        if self.pin_locked_until is None:
            return 0
        return max(0, math.ceil(self.pin_locked_until - self.clock()))

    # -- the patient's taps ------------------------------------------------------------------

    def touch(self) -> None:
        """Any tap proves someone is there, except on the "Still there?" overlay, whose button says so."""
        now = self.clock()
        self._last_touch = now
        if self.pin_open:
            self._pin_touched = now
        if self.flow is not None and not self.still_there:
            self.flow.touch(now)

    def choose_language(self, language: str) -> None:
        if language not in self.languages or language == self.language:
            return
        self.language = language
        self.texts = Texts(language)
        if self.flow is not None:
            self.flow.set_language(language)
        self._changed()

    def toggle_large_text(self) -> None:
        self.large_text = not self.large_text
        self._changed()

    def toggle_high_contrast(self) -> None:
        self.high_contrast = not self.high_contrast
        self._changed()

    def start(self) -> None:
        """Begin a visit, or take up again the one the patient stepped back from."""
        if self.phase != "welcome":
            return
        now = self.clock()
        if self.flow is None:
            self.flow = Flow(
                self.survey,
                self.language,
                now=now,
                kiosk_id=self.config.kiosk_id,
                idle_seconds=self.idle_seconds,
                too_fast_seconds=self.config.too_fast_seconds,
            )
        self.flow.touch(now)
        self._enter("question", now)
        self._load_draft()
        self._changed()

    def answer(self, value: Any) -> None:
        if not self._accepting():
            return
        assert self.flow is not None
        self.flow.answer(value, now=self.clock())
        self._changed()

    def toggle_option(self, value: str) -> None:
        """Multiple choice: a tap chooses an option, a second tap un-chooses it."""
        if not self._accepting():
            return
        assert self.flow is not None and self.flow.current is not None
        q = self.flow.current
        chosen = set(self.flow.answers.get(q.id, []))
        chosen ^= {value}
        self.answer([o.value for o in q.options if o.value in chosen] or None)

    def type_text(self, text: str) -> None:
        """Keys of the on-screen keyboard; whatever would pass the question's length limit is ignored."""
        if not self._typing():
            return
        assert self.flow is not None and self.flow.current is not None
        room = self.flow.current.max_length - len(self.draft)
        if room <= 0:
            return
        self._set_draft(self.draft + text[:room])

    def erase(self) -> None:
        if self._typing() and self.draft:
            self._set_draft(self.draft[:-1])

    def _set_draft(self, draft: str) -> None:
        assert self.flow is not None
        self.draft = draft
        self.flow.answer(draft, now=self.clock())
        self._changed()

    def next(self) -> None:
        if not self._accepting():
            return
        assert self.flow is not None
        if not self.flow.can_advance:
            return
        now = self.clock()
        if self.flow.next(now=now) is None:
            self._finish("completed", now)
            return
        self._load_draft()
        self._changed()

    def back(self) -> None:
        """The previous question; from the first, the welcome screen, with the visit kept open."""
        if not self._accepting():
            return
        assert self.flow is not None
        now = self.clock()
        if self.flow.back(now=now) is None:
            self._enter("welcome", now)
        self._load_draft()
        self._changed()

    def still_here(self) -> None:
        if self.flow is not None:
            self.flow.touch(self.clock())
        self.still_there = False
        self._changed()

    def _accepting(self) -> bool:
        return self.phase == "question" and self.flow is not None and not self.saving and not self.still_there

    def _typing(self) -> bool:
        q = self.flow.current if self._accepting() and self.flow is not None else None
        return q is not None and q.type == "text"

    def _load_draft(self) -> None:
        q = self.flow.current if self.flow is not None else None
        self.draft = self.flow.answers.get(q.id, "") if q is not None and q.type == "text" else ""

    # -- time ------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Let time pass: the idle countdown, the screens that close by themselves, the corner hold."""
        now = self.clock()
        changed = False
        if self._corner_since is not None and now - self._corner_since >= CORNER_HOLD_SECONDS:
            self._corner_since = None
            self._open_pin(now)
            changed = True
        if self.pin_open:
            changed |= self._tick_pin(now)
        if self.flow is not None and not self.saving:
            phase = self.flow.idle_phase(now)
            if phase == "expired":
                self._finish("partial", now)
                return
            countdown = math.ceil(self.flow.expiry_deadline - now) if phase == "still_there" else 0
            if (phase == "still_there") != self.still_there or countdown != self.countdown:
                self.still_there, self.countdown = phase == "still_there", countdown
                changed = True
        elapsed = now - self._phase_since
        if self.phase == "thank_you" and elapsed >= self.thank_you_seconds:
            self.reset()
            return
        if self.phase == "save_failed" and elapsed >= SAVE_FAILED_SECONDS:
            self.reset()
            return
        if self.phase == "handoff" and elapsed >= self.config.handoff_seconds:
            self.reset()
            return
        if self.phase == "admin" and self.admin is not None:
            redraw, recount = self.admin.poll()
            if recount:
                self.refresh_admin()
            changed |= redraw
            if self.admin.busy:  # the admin screen's own timeout starts once the export is written
                self._last_touch = now
        if self.phase == "admin" and now - self._last_touch >= ADMIN_IDLE_SECONDS:
            self.reset()
            return
        if (
            self.phase == "welcome"
            and self.flow is None
            and now - self._last_touch >= self.idle_seconds
            and self._personalised()
        ):
            self.reset()
            return
        if changed:
            self._changed()

    def _personalised(self) -> bool:
        """Whether the welcome screen still shows the choices of someone who walked away."""
        return (self.language, self.large_text, self.high_contrast) != (
            self.languages[0],
            self.config.large_text,
            self.config.high_contrast,
        )

    def _enter(self, phase: Phase, now: float) -> None:
        self.phase = phase
        self._phase_since = now
        if phase != "handoff":
            self.handoff_url = None  # the link carries answers: it exists only while its QR code shows

    # -- the end of a visit --------------------------------------------------------------------

    def _finish(self, status: Literal["completed", "partial"], now: float) -> None:
        assert self.flow is not None
        record = self.flow.finish(status, now=now)
        self.flow = None
        self.still_there = False
        if record is not None and status == "completed":
            self._flag_repeat(record, now)
        if status == "partial":
            # The patient has gone: clear the screen now, and let the save finish behind it.
            self.reset()
            if record is not None:
                self._save(record, self._saved_behind)
            return
        assert record is not None
        self.saving = True
        self._changed()
        self._save(record, self._saved_for_patient)

    def _flag_repeat(self, record: dict[str, Any], now: float) -> None:
        """Identical answers right after the last survey: a child, or a test of the screen."""
        last = self._last_completed
        self._last_completed = (record["answers"], now)
        if last is not None and last[0] == record["answers"] and now - last[1] < self.config.repeat_seconds:
            flags = record.setdefault("flags", [])
            if "too_fast" not in flags:
                flags.append("too_fast")

    def _save(self, record: dict[str, Any], done: Done) -> None:
        """Save on the worker, with any earlier answers a failed save still holds in memory."""
        records, self.unsaved = [*self.unsaved, record], []
        self.background(lambda: self._save_all(records), done)

    def _save_all(self, records: list[dict[str, Any]]) -> SaveOutcome:
        """Runs on the worker thread: touches the store only, never the controller's state."""
        for index, record in enumerate(records):
            try:
                self.store.save(record)
            except Exception as exc:
                return SaveOutcome(index, records[index:], f"{type(exc).__name__}: {exc}")
        if self.after_save is not None:
            self.after_save()
        return SaveOutcome(len(records), [], None)

    def _absorb(self, outcome: SaveOutcome) -> bool:
        self.unsaved.extend(outcome.unsaved)
        self.last_error = outcome.error
        return outcome.error is None

    def _saved_for_patient(self, outcome: SaveOutcome) -> None:
        self.saving = False
        ok = self._absorb(outcome)
        self._enter("thank_you" if ok else "save_failed", self.clock())
        self._changed()

    def _saved_behind(self, outcome: SaveOutcome) -> None:
        self._absorb(outcome)
        self._changed()

    # -- the phone handoff ---------------------------------------------------------------------

    @property
    def can_hand_off(self) -> bool:
        """The phone handoff needs a survey that allows it and a server for the phone to reach."""
        return self.survey.handoff and self.config.enrolled

    def handoff(self) -> None:
        """Save the answers so far as `handed_off`, then show the QR code of the signed link.

        The token is minted before the visit ends, so that a token that cannot be made leaves the
        patient where they were. Like "Thank you", the QR code shows only once the store has the
        record: the kiosk's half carries the free text, which the link never does.
        """
        if not self._accepting() or not self.can_hand_off:
            return
        flow = self.flow
        assert flow is not None and self.config.token and self.config.kiosk_id and self.config.server_url
        try:
            token = mint(
                self.survey,
                response_id=flow.response_id,
                language=flow.language,
                answers=flow.answers,
                kiosk_id=self.config.kiosk_id,
                key=derive_handoff_key(self.config.token),
                started_at=flow.started_at,
                now=utc_now(),
                minutes=self.config.handoff_minutes,
            )
        except ValueError as exc:
            self.last_error = f"handoff: {exc}"
            self._changed()
            return
        record = flow.finish("handed_off", now=self.clock())
        assert record is not None
        self.flow = None
        self.still_there = False
        self.handoff_url = url(self.config.server_url, token)
        self.saving = True
        self._changed()
        self._save(record, self._saved_for_handoff)

    def _saved_for_handoff(self, outcome: SaveOutcome) -> None:
        self.saving = False
        ok = self._absorb(outcome)
        if self.phase == "question":  # not if staff opened the admin screen meanwhile
            self._enter("handoff" if ok else "save_failed", self.clock())
        self._changed()

    def reset(self) -> None:
        """Back to the welcome screen, with nothing left of the previous patient."""
        now = self.clock()
        if self.flow is not None:
            self._finish("partial", now)
            return
        if self.updated_survey is not None:
            # Between patients only, so that a survey never changes under someone answering it.
            newer = self.updated_survey(self.survey.id)
            if newer is not None and newer.key != self.survey.key:
                self._use_survey(newer)
        self._enter("welcome", now)
        self.language = self.languages[0]
        self.texts = Texts(self.language)
        self.large_text = self.config.large_text
        self.high_contrast = self.config.high_contrast
        self.draft = ""
        self.still_there = False
        self.countdown = 0
        self.admin_status = None
        if self.admin is not None:
            self.admin.leave()
        self._close_pin()
        self._last_touch = now
        self.resets += 1
        self._changed()

    # -- staff ---------------------------------------------------------------------------------

    def corner_down(self) -> None:
        """A finger on the admin corner; held for three seconds, it brings up the PIN pad."""
        self._corner_since = self.clock()

    def corner_up(self) -> None:
        self._corner_since = None

    def _open_pin(self, now: float) -> None:
        self.pin_open = True
        self.pin_entry = ""
        self.pin_wrong = False
        self._pin_touched = now

    def _close_pin(self) -> None:
        self.pin_open = False
        self.pin_entry = ""
        self.pin_wrong = False

    def _tick_pin(self, now: float) -> bool:
        locked = self.pin_locked_until is not None
        if locked and now >= self.pin_locked_until:
            self.pin_locked_until = None
            self.pin_failures = 0
        if now - self._pin_touched >= PIN_IDLE_SECONDS and not self.pin_checking:
            self._close_pin()
        return locked or not self.pin_open  # the lockout countdown on the pad moves

    def pin_press(self, digit: str) -> None:
        if self.pin_ready and digit.isdigit() and len(self.pin_entry) < PIN_MAX:
            self.pin_entry += digit
            self.pin_wrong = False
            self._changed()

    def pin_erase(self) -> None:
        if self.pin_ready and self.pin_entry:
            self.pin_entry = self.pin_entry[:-1]
            self._changed()

    def pin_cancel(self) -> None:
        self._close_pin()
        self._changed()

    @property
    def pin_ready(self) -> bool:
        return self.pin_open and not self.pin_checking and self.pin_locked_seconds == 0

    def pin_submit(self) -> None:
        """Check the PIN on the worker: the salted hash takes a noticeable fraction of a second."""
        if not self.pin_ready or not self.pin_entry:
            return
        entry, self.pin_entry = self.pin_entry, ""
        self.pin_checking = True
        self._changed()
        self.background(lambda: self.config.check_pin(entry), self._pin_checked)

    def _pin_checked(self, ok: bool | Exception) -> None:
        self.pin_checking = False
        now = self.clock()
        if ok is True:
            self.pin_failures = 0
            self._close_pin()
            self.open_admin()
            return
        self.pin_failures += 1
        self.pin_wrong = True
        self._pin_touched = now
        if self.pin_failures >= PIN_ATTEMPTS:
            self.pin_locked_until = now + PIN_LOCK_SECONDS
        self._changed()

    def open_admin(self) -> None:
        """The admin screen; a visit in progress ends as if its patient had walked away."""
        now = self.clock()
        if self.flow is not None:
            record = self.flow.finish("partial", now=now)
            self.flow = None
            if record is not None:
                self._save(record, self._saved_behind)
        self.still_there = False
        self._last_touch = now
        self._enter("admin", now)
        self.refresh_admin()

    def refresh_admin(self) -> None:
        store, admin = self.store, self.admin
        unsaved = len(self.unsaved)

        def read() -> AdminStatus:
            status = store.status()
            return AdminStatus(
                store.count(),
                store.pending_count(),
                status.get("last_error"),
                unsaved,
                admin.count_today() if admin is not None else None,
                status.get("quarantined", 0),
            )

        self.background(read, self._admin_read)

    def _admin_read(self, status: AdminStatus | Exception) -> None:
        if isinstance(status, Exception):
            status = AdminStatus(0, 0, f"{type(status).__name__}: {status}", len(self.unsaved))
        if status.last_error is None and self.last_error is not None:
            status = replace(status, last_error=self.last_error)
        self.admin_status = status
        self._changed()

    def exit_kiosk(self) -> None:
        if self.allows_exit:
            self.exit_requested = True
            self._changed()

    def switch_survey(self, survey: Survey) -> None:
        """The admin's choice of survey; the admin screen is between patients, so no one is mid-survey."""
        if self.phase == "admin" and self.flow is None:
            self._use_survey(survey)
            self._changed()
