"""The phone pages behind a handoff link: the remaining questions, and every way a link is refused.
On SQLite and PostgreSQL, through the test client; the browser tests are in test_phone_browser.py."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
import uvicorn
from fastapi.testclient import TestClient
from phone_helpers import KIOSK, Phone, PhoneRig, make_phone_rig
from server_helpers import ApiServer, free_port

from kiosk.record import utc_now
from kiosk.survey import parse_survey
from sync.server.auth import revoke_kiosk
from sync.server.phone.limits import Limiters, PhoneLimits
from sync.server.surveys import publish

pytest_plugins = ["server_fixtures"]

ON_KIOSK = {"overall": 4}


@pytest.fixture
def phone_rig(database_url: str) -> Iterator[PhoneRig]:
    yield from make_phone_rig(database_url)


def test_the_phone_asks_only_what_is_left_with_the_same_branching(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK)
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    assert phone.heading == "Finish your survey here"
    assert "4 questions left." in phone.page.text
    phone.start()
    assert phone.question == "front_desk"  # "overall" was answered on the kiosk
    assert "Question 1 of 4" in phone.page.text
    assert 'value="back"' not in phone.page.text  # nothing before it on this phone
    phone.answer("somewhat")
    assert phone.question == "wait"
    phone.answer("under_5", action="back")
    assert phone.question == "front_desk"
    assert 'value="somewhat" checked' in phone.page.text
    phone.answer("somewhat")
    assert 'value="under_5" checked' in phone.page.text
    phone.answer("under_5")
    assert phone.question == "recommend"
    assert "Send my answers" not in phone.page.text  # a low score leads on to another question
    phone.answer("3")
    assert phone.question == "improve"  # shown because recommend <= 6, as on the kiosk
    phone.answer("Longer opening hours")
    assert phone.question == "contact_ok"
    phone.answer("no")
    assert phone.heading == "Thank you"
    assert "Thank you! Your answers help us care for you better." in phone.page.text
    (row,) = phone_rig.responses()
    assert (row.id, row.channel, row.status, row.kiosk_id) == (
        link.response_id,
        "kiosk+phone",
        "completed",
        KIOSK,
    )


def test_a_high_score_skips_the_follow_up_and_send_shows_on_the_true_last_page(phone_rig: PhoneRig) -> None:
    phone = Phone(phone_rig.server.app)
    phone.open(phone_rig.link({"overall": 5, "front_desk": "definitely", "wait": "under_5"}).path)
    phone.start()
    phone.answer("9")
    assert phone.question == "contact_ok"
    assert "Send my answers" not in phone.page.text  # a yes leads on to contact_details
    phone.answer("yes")
    assert phone.question == "contact_details"
    assert "Send my answers" in phone.page.text


def test_answers_are_checked_and_explained(phone_rig: PhoneRig) -> None:
    phone = Phone(phone_rig.server.app)
    phone.open(phone_rig.link(ON_KIOSK).path)
    phone.start()
    phone.answer(None)
    assert phone.question == "front_desk"
    assert 'role="alert">Please answer this question to go on.' in phone.page.text
    phone.answer("splendid")
    assert "Please choose from the answers shown." in phone.page.text
    phone.answer("no")
    phone.answer("under_5")
    phone.answer("11")
    assert "Please choose from the answers shown." in phone.page.text
    phone.answer("2")
    assert phone.question == "improve"
    phone.answer("x" * 501)
    assert "Please keep your answer to 500 characters or fewer." in phone.page.text
    assert "x" * 501 in phone.page.text  # what was typed is kept on the page to shorten
    phone.answer("   ")
    assert phone.question == "contact_ok"  # free text is optional here


def test_a_malformed_post_gets_a_page_not_an_error(phone_rig: PhoneRig) -> None:
    phone = Phone(phone_rig.server.app)
    phone.open(phone_rig.link(ON_KIOSK).path)
    for body, kind in [
        (b"\xff\xfe%%%===", "application/x-www-form-urlencoded"),
        (b"--x\r\nnot multipart", "multipart/form-data; boundary=x"),
        (b"a=" + b"b" * 100_000, "application/x-www-form-urlencoded"),
    ]:
        response = phone.client.post(phone.path, content=body, headers={"content-type": kind})
        assert response.status_code < 500
        assert "This page is out of date" in response.text


def test_spanish_from_the_token_and_a_language_switch_without_javascript(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK, language="es")
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    assert (phone.lang, phone.heading) == ("es", "Termine su encuesta aquí")
    assert 'href="?lang=en"' in phone.page.text
    phone.start()
    assert "¿El personal de recepción fue amable y servicial?" in phone.page.text
    assert "Pregunta 1 de 4" in phone.page.text
    phone.open(link.path, lang="en")
    assert "Were the front desk staff courteous and helpful?" in phone.page.text
    phone.answer("no")  # the form carries the language it was shown in
    assert phone.lang == "en"
    phone.open(link.path, lang="fr")  # not offered: stays as it was
    assert phone.lang == "en"


def test_a_forged_token_is_not_valid(phone_rig: PhoneRig) -> None:
    stranger_key = "desk-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    forged = phone_rig.link(ON_KIOSK, token=stranger_key)
    made_up_kiosk = phone_rig.link(ON_KIOSK, token=stranger_key, kiosk_id="desk-9")
    phone = Phone(phone_rig.server.app)
    for path in (forged.path, made_up_kiosk.path, "/p/hello", "/p/" + "A" * 500, "/p/%00%01"):
        response = phone.open(path)
        assert response.status_code == 404, path
        assert phone.heading == "This link isn't valid"
    phone.open("/p/hello", lang="es")
    assert (phone.lang, phone.heading) == ("es", "Este enlace no es válido")
    spanish_browser = phone.client.get("/p/hello", headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert "Este enlace no es válido" in spanish_browser.text
    phone.path = forged.path
    assert phone.start().status_code == 404
    assert phone_rig.server.rows("SELECT * FROM phone_sessions") == []


@pytest.mark.parametrize("position", [1, 30, 45, -1])
def test_an_altered_token_is_not_valid(phone_rig: PhoneRig, position: int) -> None:
    token = phone_rig.link({"overall": 4, "front_desk": "no"}).token
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[position] ^= 0x04
    altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    phone = Phone(phone_rig.server.app)
    assert phone.open(f"/p/{altered}").status_code == 404
    assert phone.heading == "This link isn't valid"


def test_an_expired_link(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK, now=utc_now() - timedelta(minutes=31))
    phone = Phone(phone_rig.server.app)
    assert phone.open(link.path).status_code == 410
    assert phone.heading == "This link has expired"
    assert phone.start().status_code == 410
    assert phone_rig.server.rows("SELECT * FROM phone_sessions") == []


def test_a_visit_begun_in_time_may_finish_a_little_after_the_link_expires(phone_rig: PhoneRig) -> None:
    now = utc_now()
    pages = phone_rig.server.app.state.phone_pages
    link = phone_rig.link({"overall": 5, "front_desk": "definitely", "wait": "under_5"}, now=now, minutes=5)
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    phone.start()
    pages.clock = lambda: now + timedelta(minutes=6)
    late = Phone(phone_rig.server.app)
    late.open(link.path)
    assert late.heading == "This link has expired"
    phone.answer("10")
    assert phone.question == "contact_ok"
    pages.clock = lambda: now + timedelta(minutes=30)
    phone.answer("no")
    assert phone.heading == "This link has expired"
    assert phone_rig.responses() == []


def test_a_used_link_says_we_already_have_the_answers(phone_rig: PhoneRig) -> None:
    link = phone_rig.link({"overall": 5, "front_desk": "definitely", "wait": "under_5", "recommend": 9})
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    phone.start()
    phone.answer("no")
    assert phone.heading == "Thank you"
    assert phone.open(link.path).status_code == 200
    assert phone.heading == "Thank you"  # this browser sees its own thank-you again
    again = Phone(phone_rig.server.app)
    again.open(link.path)
    assert again.heading == "Thanks, we already have your answers"
    again.start()
    assert again.heading == "Thanks, we already have your answers"
    assert len(phone_rig.responses()) == 1


def test_a_link_whose_response_is_complete_elsewhere_is_used(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK)
    phone_rig.sync(
        {
            **link.kiosk_record,
            "status": "completed",
            "answers": {**ON_KIOSK, "front_desk": "no", "wait": "under_5", "recommend": 8},
        }
    )
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    assert phone.heading == "Thanks, we already have your answers"


def test_links_of_a_revoked_kiosk_are_refused(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK)
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    phone.start()
    with phone_rig.server.engine.begin() as connection:
        revoke_kiosk(connection, KIOSK)
    assert phone.answer("no").status_code == 410
    assert phone.heading == "This link is no longer active"
    assert Phone(phone_rig.server.app).open(link.path).status_code == 410
    assert phone_rig.responses() == []


def test_a_post_needs_this_browsers_cookie_and_its_form_token(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK)
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    started = phone.client.post(link.path, data={"step": "start", "lang": "en"}, follow_redirects=False)
    assert started.status_code == 303
    cookie = started.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Path={link.path}" in cookie
    phone.open(link.path)
    csrf = phone.field("csrf")
    answer = {"question": "front_desk", "lang": "en", "action": "next", "answer": "no"}

    assert phone.client.post(link.path, data=answer).status_code == 409  # no form token
    altered = ("y" if csrf[0] == "x" else "x") + csrf[1:]
    assert phone.client.post(link.path, data={**answer, "csrf": altered}).status_code == 409
    other_site = TestClient(phone_rig.server.app)  # a page elsewhere posting with a stolen token
    response = other_site.post(link.path, data={**answer, "csrf": csrf})
    assert response.status_code == 409 and "This page is out of date" in response.text
    assert phone.question == "front_desk"
    assert phone.answer("no").status_code == 200 and phone.question == "wait"


def test_opening_the_link_in_another_browser_moves_the_visit_there(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(ON_KIOSK)
    preview = Phone(phone_rig.server.app)
    preview.open(link.path)
    preview.start()
    preview.answer("no")
    browser = Phone(phone_rig.server.app)
    browser.open(link.path)
    assert "4 questions left." in browser.page.text  # "no" showed "improve"; a GET changes nothing
    assert preview.open(link.path).status_code == 200 and preview.question == "wait"
    browser.start()
    assert browser.question == "wait"  # carries on where the patient was
    assert preview.answer("under_5").status_code == 409
    assert "Open the survey again" in preview.page.text
    assert browser.answer("under_5").status_code == 200 and browser.question == "recommend"


def test_pages_carry_no_cache_no_referrer_and_a_strict_policy(phone_rig: PhoneRig) -> None:
    response = Phone(phone_rig.server.app).open(phone_rig.link(ON_KIOSK).path)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    paths = TestClient(phone_rig.server.app).get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/p/", "/s/"))]


def test_bad_links_are_rate_limited_per_address(phone_rig: PhoneRig) -> None:
    bad = Phone(phone_rig.server.app, address="10.0.0.7")
    for n in range(20):
        assert bad.open(f"/p/not-a-token-{n}").status_code == 404
    refused = bad.open(phone_rig.link(ON_KIOSK).path)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert bad.heading == "Please wait a moment"
    assert (
        Phone(phone_rig.server.app, address="10.0.0.8").open(phone_rig.link(ON_KIOSK).path).status_code == 200
    )


def test_every_page_request_counts_against_its_address(phone_rig: PhoneRig) -> None:
    phone_rig.server.app.state.phone_pages.limits = Limiters(PhoneLimits(pages=5))
    phone = Phone(phone_rig.server.app)
    link = phone_rig.link(ON_KIOSK)
    assert [phone.open(link.path).status_code for _ in range(6)] == [200] * 5 + [429]


def test_the_limit_follows_the_forwarded_address_only_behind_a_trusted_proxy(database_url: str) -> None:
    for trusted, expect in [((), [404] * 20 + [429]), (("127.0.0.1",), [404] * 21)]:
        server = ApiServer(database_url, trusted_proxies=trusted)
        client = TestClient(server.app, client=("127.0.0.1", 40000))
        codes = [
            client.get(f"/p/bad-{n}", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(21)
        ]
        assert codes == expect
        server.close()


def test_the_access_log_never_holds_a_token(phone_rig: PhoneRig, caplog: pytest.LogCaptureFixture) -> None:
    link = phone_rig.link({"overall": 1, "front_desk": "no"})
    port = free_port()
    config = uvicorn.Config(
        phone_rig.server.app, host="127.0.0.1", port=port, log_config=None, access_log=True, log_level="info"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert requests.get(f"http://127.0.0.1:{port}{link.path}?lang=es", timeout=10).status_code == 200
        server.should_exit = True
        thread.join(10)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/p/<token>?lang=es" in line for line in lines), lines
    assert not any(link.token in line or link.token[:20] in line for line in lines)


STEPS = {
    "id": "steps",
    "version": 1,
    "languages": ["en", "es"],
    "title": {"en": "Steps", "es": "Pasos"},
    "welcome": {"en": "Hello", "es": "Hola"},
    "thank_you": {"en": "Thanks", "es": "Gracias"},
    "questions": [
        {"id": "mood", "type": "rating", "required": True, "text": {"en": "Mood?", "es": "¿Ánimo?"}},
        {
            "id": "parking",
            "type": "single_choice",
            "text": {"en": "Did you drive?", "es": "¿Vino en coche?"},
            "options": [
                {"value": "yes", "label": {"en": "Yes", "es": "Sí"}},
                {"value": "no", "label": {"en": "No", "es": "No"}},
            ],
        },
        {
            "id": "parking_ok",
            "type": "yes_no",
            "required": True,
            "show_if": {"question": "parking", "equals": "yes"},
            "text": {"en": "Could you park?", "es": "¿Pudo aparcar?"},
        },
        {"id": "note", "type": "text", "text": {"en": "Anything else?", "es": "¿Algo más?"}},
    ],
}


def test_an_answer_past_a_newly_shown_required_question_is_kept(phone_rig: PhoneRig) -> None:
    """As on the kiosk: going back and changing an answer that shows a new required question
    does not lose the answers given after it."""
    survey = parse_survey(STEPS)
    with phone_rig.server.engine.begin() as connection:
        publish(connection, survey, None)
    phone = Phone(phone_rig.server.app)
    phone.open(phone_rig.link({"mood": 3}, survey=survey).path)
    phone.start()
    phone.answer("no")
    assert phone.question == "note"
    phone.answer("The stairs", action="back")
    assert phone.question == "parking"
    phone.answer("yes")
    assert phone.question == "parking_ok"
    phone.answer("no")
    assert phone.question == "note"
    assert ">The stairs</textarea>" in phone.page.text
    phone.answer("The stairs")
    (row,) = phone_rig.responses()
    assert json.loads(row.payload)["answers"] == {
        "mood": 3,
        "parking": "yes",
        "parking_ok": False,
        "note": "The stairs",
    }
