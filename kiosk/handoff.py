"""Handoff tokens: the kiosk passes an unfinished survey to the patient's phone through a QR code.

The kiosk mints the token offline and signs it with a key only it and the server know, so the phone
can carry on even while the kiosk has no network. The token is short enough for an easy QR code,
and names no patient. Free text never travels in it: URLs end up in logs and browser histories, so
a text answer is only marked "answered on the kiosk", and the server takes its words from the
kiosk's own record when the two are merged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kiosk.survey import Survey

FORMAT = 1
SIGNATURE_BYTES = 16
DEFAULT_MINUTES = 30
_HEAD = struct.Struct(">B16sIIH")

Refusal = Literal["invalid", "expired", "revoked"]


class HandoffError(ValueError):
    """A token the phone page must refuse; `kind` picks the message the patient sees."""

    def __init__(self, kind: Refusal, detail: str) -> None:
        self.kind = kind
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Handoff:
    response_id: str
    survey_id: str
    survey_version: int
    language: str
    kiosk_id: str
    started_at: datetime
    expires_at: datetime
    answers: Mapping[str, Any]
    text_on_kiosk: frozenset[str] = field(default_factory=frozenset)

    @property
    def answered(self) -> frozenset[str]:
        """Every question the patient already answered on the kiosk, free text included."""
        return frozenset(self.answers) | self.text_on_kiosk


def mint(
    survey: Survey,
    *,
    response_id: str,
    language: str,
    answers: Mapping[str, Any],
    kiosk_id: str,
    key: bytes,
    started_at: datetime,
    now: datetime,
    minutes: int = DEFAULT_MINUTES,
) -> str:
    """Sign a compact token; it needs no network and carries no patient identity."""
    expires = now + timedelta(minutes=minutes)
    body = bytearray(
        _HEAD.pack(
            FORMAT,
            uuid.UUID(response_id).bytes,
            int(started_at.timestamp()),
            int(expires.timestamp()),
            survey.version,
        )
    )
    for text in (kiosk_id, survey.id, language):
        _put_text(body, text)
    encoded = [_encode_answer(survey, qid, value) for qid, value in answers.items()]
    body.append(len(encoded))
    for chunk in encoded:
        body += chunk
    signature = hmac.new(key, bytes(body), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(bytes(body) + signature).rstrip(b"=").decode("ascii")


def read(
    token: str,
    *,
    key_for: Callable[[str], bytes | None],
    survey_for: Callable[[str, int], Survey | None],
    now: datetime,
) -> Handoff:
    """Check a token's signature and expiry and decode it; raises HandoffError on any doubt."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise HandoffError("invalid", "not a handoff token") from None
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    try:
        fmt, rid, started, expires, version = _HEAD.unpack_from(body, 0)
        offset = _HEAD.size
        kiosk_id, offset = _get_text(body, offset)
        survey_id, offset = _get_text(body, offset)
        language, offset = _get_text(body, offset)
    except (struct.error, UnicodeDecodeError, IndexError):
        raise HandoffError("invalid", "the token is malformed") from None
    if fmt != FORMAT:
        raise HandoffError("invalid", f"unknown token format {fmt}")
    key = key_for(kiosk_id)
    if key is None:
        raise HandoffError("revoked", "the kiosk that made this token is unknown or revoked")
    expected = hmac.new(key, body, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    if not hmac.compare_digest(expected, signature):
        raise HandoffError("invalid", "the signature does not match")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise HandoffError("expired", "the token has expired")
    survey = survey_for(survey_id, version)
    if survey is None:
        raise HandoffError("invalid", f"survey {survey_id} v{version} is not known here")
    try:
        answers, text_on_kiosk = _decode_answers(survey, body, offset)
    except (IndexError, ValueError) as e:
        raise HandoffError("invalid", f"the answers do not fit the survey: {e}") from None
    return Handoff(
        response_id=str(uuid.UUID(bytes=rid)),
        survey_id=survey_id,
        survey_version=version,
        language=language,
        kiosk_id=kiosk_id,
        started_at=datetime.fromtimestamp(started, UTC),
        expires_at=expires_at,
        answers=answers,
        text_on_kiosk=text_on_kiosk,
    )


def url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/p/{token}"


def _put_text(body: bytearray, text: str) -> None:
    data = text.encode()
    if len(data) > 255:
        raise ValueError(f"{text[:20]!r}... is too long for a handoff token")
    body.append(len(data))
    body += data


def _get_text(body: bytes, offset: int) -> tuple[str, int]:
    size = body[offset]
    end = offset + 1 + size
    if end > len(body):
        raise IndexError("text runs past the end")
    return body[offset + 1 : end].decode(), end


def _encode_answer(survey: Survey, qid: str, value: Any) -> bytes:
    index = next(i for i, q in enumerate(survey.questions) if q.id == qid)
    q = survey.questions[index]
    values = [o.value for o in q.options]
    if q.type == "single_choice":
        return bytes((index, values.index(value)))
    if q.type == "multiple_choice":
        return bytes((index, len(value), *(values.index(v) for v in value)))
    if q.type in ("rating", "likelihood"):
        return bytes((index, value))
    if q.type == "yes_no":
        return bytes((index, int(value)))
    return bytes((index,))


def _decode_answers(survey: Survey, body: bytes, offset: int) -> tuple[dict[str, Any], frozenset[str]]:
    count = body[offset]
    offset += 1
    answers: dict[str, Any] = {}
    text: set[str] = set()
    for _ in range(count):
        q = survey.questions[body[offset]]
        offset += 1
        if q.type == "text":
            text.add(q.id)
            continue
        if q.type == "multiple_choice":
            size = body[offset]
            value: Any = [q.options[i].value for i in body[offset + 1 : offset + 1 + size]]
            offset += 1 + size
        else:
            byte = body[offset]
            offset += 1
            if q.type == "single_choice":
                value = q.options[byte].value
            else:
                value = bool(byte) if q.type == "yes_no" else byte
        if (why := q.answer_problem(value)) is not None:
            raise ValueError(f"{q.id}: {why}")
        answers[q.id] = value
    if offset != len(body):
        raise ValueError("unexpected bytes after the answers")
    return answers, frozenset(text)
