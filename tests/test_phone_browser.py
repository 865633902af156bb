"""The phone pages in a real Chromium at phone size: a patient finishes a handed-off survey and a
poster survey, and axe-core finds no accessibility violation on any page.

One browser serves the whole module; the server runs on loopback in a thread, on SQLite (the
database logic under these pages is tested on both databases in test_phone_links.py and
test_merge.py). Set PHONE_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import CHROMIUM, chromium
from phone_helpers import KIOSK, PhoneRig
from server_helpers import REPO, ApiServer, ThreadServer

from kiosk.record import utc_now
from kiosk.survey import parse_survey
from sync.server.auth import revoke_kiosk
from sync.server.surveys import publish

pytest.importorskip("playwright.sync_api")

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
MIN_TARGET_PX = 48

EVERY_TYPE = {
    "id": "every-type",
    "version": 1,
    "languages": ["en", "es"],
    "title": {"en": "Your visit", "es": "Su visita"},
    "welcome": {"en": "A few questions.", "es": "Unas preguntas."},
    "thank_you": {"en": "Thank you.", "es": "Gracias."},
    "questions": [
        {"id": "intro", "type": "info", "text": {"en": "Almost done.", "es": "Casi terminamos."}},
        {
            "id": "topics",
            "type": "multiple_choice",
            "required": True,
            "text": {"en": "What went well?", "es": "¿Qué salió bien?"},
            "options": [
                {"value": "staff", "label": {"en": "The staff", "es": "El personal"}},
                {"value": "wait", "label": {"en": "The waiting time", "es": "La espera"}},
                {"value": "rooms", "label": {"en": "The rooms", "es": "Las salas"}},
            ],
        },
        {
            "id": "stars",
            "type": "rating",
            "style": "stars",
            "text": {"en": "Rate the rooms", "es": "Valore las salas"},
        },
        {"id": "again", "type": "yes_no", "text": {"en": "Would you come again?", "es": "¿Volvería?"}},
    ],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PhoneRig, str]]:
    folder = tmp_path_factory.mktemp("phone-browser")
    server = ApiServer(f"sqlite:///{folder / 'server.db'}")
    with server.engine.begin() as connection:
        publish(connection, parse_survey(EVERY_TYPE), None)
    rig = PhoneRig(server, server.enroll(KIOSK))
    with ThreadServer(server.app) as live:
        yield rig, live.url
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make deps` (npm install axe-core)")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def shots() -> Path | None:
    """Where to keep screenshots for a person to look at; none are taken unless asked for."""
    wanted = os.environ.get("PHONE_SCREENSHOTS")
    if not wanted:
        return None
    folder = Path(wanted)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Patient:
    """One phone: it checks every page it sees with axe-core, and photographs the ones asked for."""

    def __init__(self, browser: Any, base: str, shots: Path | None, locale: str = "en-GB") -> None:
        # The pages' policy allows no script; axe is injected by the test, so CSP is bypassed here.
        scale = 2 if shots is not None else 1  # sharp screenshots only when someone will look
        self.context = browser.new_context(
            viewport=PHONE, locale=locale, bypass_csp=True, device_scale_factor=scale
        )
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.base = base
        self.shots = shots
        self.checked: list[str] = []

    def open(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def check(self, name: str, *, shot: bool = True) -> None:
        """axe-core finds nothing, every target is large enough, and (optionally) a screenshot."""
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        violations = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"]]}
            for v in result["violations"]
        ]
        assert violations == [], f"{name}: " + json.dumps(violations, indent=1)
        small = self.page.evaluate(
            """(min) => [...document.querySelectorAll('label.choice, button, main a, nav a, textarea')]
                .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
                .filter(([, h]) => h < min)""",
            MIN_TARGET_PX,
        )
        assert small == [], f"{name}: targets under {MIN_TARGET_PX}px: {small}"
        self.checked.append(name)
        if shot and self.shots is not None:
            self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def choose(self, label: str) -> None:
        radio = self.page.get_by_role("radio", name=label, exact=True)
        radio.or_(self.page.get_by_role("checkbox", name=label, exact=True)).check()

    def press(self, name: str) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()

    @property
    def heading(self) -> str:
        return self.page.locator("h1").inner_text().strip()

    def close(self) -> None:
        self.context.close()


def test_a_patient_finishes_a_handed_off_survey_in_english(site, browser, shots) -> None:
    rig, base = site
    link = rig.link({"overall": 4})
    patient = Patient(browser, base, shots)
    try:
        patient.open(link.path)
        assert patient.heading == "Finish your survey here"
        patient.check("en-1-continue")
        patient.press("Continue")
        assert patient.heading == "Were the front desk staff courteous and helpful?"
        patient.check("en-2-single-choice")
        patient.choose("Yes, somewhat")
        patient.press("Next")
        patient.press("Next")  # no answer: the page explains
        assert "Please answer this question to go on." in patient.page.locator("[role=alert]").inner_text()
        patient.check("en-3-error")
        patient.press("Back")
        assert patient.page.get_by_label("Yes, somewhat", exact=True).is_checked()
        patient.press("Next")
        patient.choose("More than 30 minutes")
        patient.press("Next")
        assert patient.heading.startswith("How likely are you to recommend")
        patient.check("en-4-likelihood")
        patient.choose("9")
        patient.check("en-4-likelihood-chosen")
        patient.press("Next")
        assert patient.heading == "What could we do better?"  # shown by the long wait
        patient.check("en-5-text")
        patient.page.get_by_label("What could we do better?").fill("Tell us when the doctor runs late")
        patient.press("Next")
        assert patient.heading == "May we contact you about your answers?"
        patient.check("en-6-yes-no")
        patient.choose("No")
        patient.press("Next")  # a yes would lead on, so this button cannot promise the end
        assert patient.heading == "Thank you"
        patient.check("en-7-thank-you")
    finally:
        patient.close()
    (row,) = [r for r in rig.responses() if r.id == link.response_id]
    record = json.loads(row.payload)
    assert (record["channel"], record["status"], record["language"]) == ("kiosk+phone", "completed", "en")
    assert record["answers"] == {
        "overall": 4,
        "front_desk": "somewhat",
        "wait": "over_30",
        "recommend": 9,
        "improve": "Tell us when the doctor runs late",
        "contact_ok": False,
    }


def test_a_patient_finishes_in_spanish_after_switching_language(site, browser, shots) -> None:
    rig, base = site
    link = rig.link({}, language="en")
    patient = Patient(browser, base, shots, locale="es-ES")
    try:
        patient.open(link.path)
        patient.page.get_by_role("link", name="Español").click()
        assert patient.heading == "Termine su encuesta aquí"
        patient.check("es-1-continue")
        patient.press("Continuar")
        assert patient.heading == "En general, ¿cómo fue su visita de hoy?"
        patient.check("es-2-rating-faces")
        patient.choose("Muy buena")
        patient.press("Siguiente")
        patient.choose("Sí, totalmente")
        patient.press("Siguiente")
        patient.choose("Menos de 5 minutos")
        patient.press("Siguiente")
        patient.choose("10")
        patient.press("Siguiente")
        assert patient.heading == "¿Podemos comunicarnos con usted sobre sus respuestas?"
        patient.choose("Sí")
        patient.press("Siguiente")
        patient.check("es-3-text")
        patient.page.get_by_role("textbox").fill("Por las mañanas")
        patient.press("Enviar mis respuestas")
        assert patient.heading == "Gracias"
        patient.check("es-4-thank-you")
    finally:
        patient.close()
    (row,) = [r for r in rig.responses() if r.id == link.response_id]
    record = json.loads(row.payload)
    assert record["language"] == "es"
    assert record["answers"]["contact_details"] == "Por las mañanas"


def test_every_question_type_and_the_poster_survey(site, browser, shots) -> None:
    rig, base = site
    patient = Patient(browser, base, shots)
    try:
        patient.open("/s/main/every-type")
        assert patient.heading == "Tell us how we did"
        patient.check("poster-1-start")
        patient.press("Start")
        assert patient.heading == "Almost done."
        patient.check("poster-2-info")
        patient.press("Next")
        patient.check("poster-3-multiple-choice")
        patient.choose("The staff")
        patient.choose("The rooms")
        patient.press("Next")
        patient.check("poster-4-stars")
        patient.choose("4")
        patient.press("Next")
        patient.choose("Yes")
        patient.press("Send my answers")
        assert patient.heading == "Thank you"
        patient.check("poster-5-thank-you", shot=False)
        patient.open("/s/main/every-type")
        assert patient.heading == "Thank you"  # this session has sent its answers
    finally:
        patient.close()
    records = [json.loads(r.payload) for r in rig.responses() if r.survey_id == "every-type"]
    assert [(r["kiosk_id"], r["channel"], r["answers"]) for r in records] == [
        (None, "phone", {"topics": ["staff", "rooms"], "stars": 4, "again": True})
    ]

    spanish = Patient(browser, base, shots, locale="es-ES")
    try:
        spanish.open("/s/main/fft")
        assert spanish.heading == "Cuéntenos cómo le fue"
        spanish.check("poster-es-start")
        spanish.press("Comenzar")
        spanish.check("poster-es-fft-faces")
    finally:
        spanish.close()


def test_every_refusal_page(site, browser, shots) -> None:
    rig, base = site
    patient = Patient(browser, base, shots)
    try:
        assert patient.open("/p/not-a-real-link").status == 404
        assert patient.heading == "This link isn't valid"
        patient.check("refused-invalid")

        expired = rig.link({"overall": 3}, now=utc_now() - timedelta(hours=1))
        assert patient.open(expired.path).status == 410
        assert patient.heading == "This link has expired"
        patient.check("refused-expired")

        used = rig.link({"overall": 5, "front_desk": "definitely", "wait": "under_5", "recommend": 10})
        patient.open(used.path)
        patient.press("Continue")
        patient.choose("No")
        patient.press("Next")
        other = Patient(browser, base, shots, locale="es-ES")
        try:
            other.open(used.path)
            assert other.heading == "Thanks, we already have your answers"
            other.check("refused-used-en")
            other.page.get_by_role("link", name="Español").click()
            assert other.heading == "Gracias, ya tenemos sus respuestas"
            other.check("refused-used-es")
        finally:
            other.close()

        stale = rig.link({"overall": 2})
        patient.open(stale.path)
        patient.press("Continue")
        elsewhere = Patient(browser, base, shots)
        try:
            elsewhere.open(stale.path)
            elsewhere.press("Continue")
        finally:
            elsewhere.close()
        patient.choose("No")
        patient.press("Next")
        assert patient.heading == "This page is out of date"
        patient.check("refused-stale")
        patient.page.get_by_role("link", name="Open the survey again").click()
        assert patient.heading == "Finish your survey here"

        retired = PhoneRig(rig.server, rig.server.enroll("desk-old"))
        revoked = retired.link({"overall": 4}, kiosk_id="desk-old")
        with rig.server.engine.begin() as connection:
            revoke_kiosk(connection, "desk-old")
        assert patient.open(revoked.path).status == 410
        assert patient.heading == "This link is no longer active"
        patient.check("refused-revoked")

        busy = rig.server.app.state.phone_pages.limits.bad_links
        for _ in range(busy.allowed):
            busy.take("127.0.0.1")
        assert patient.open("/p/anything").status == 429
        assert patient.heading == "Please wait a moment"
        patient.check("refused-busy")
    finally:
        patient.close()
