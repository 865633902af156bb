"""Posters: the printed QR opens a phone-only survey, one submission per page session, rate-limited.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import zxingcpp
from phone_helpers import Phone, PhoneRig, make_phone_rig
from PIL import Image
from server_helpers import run_main

from sync.server.phone.limits import Limiters, PhoneLimits
from sync.server.poster import qr_matrix

pytest_plugins = ["server_fixtures"]

BASE = "https://feedback.example-clinic.org"


@pytest.fixture
def phone_rig(database_url: str) -> Iterator[PhoneRig]:
    yield from make_phone_rig(database_url)


def poster(rig: PhoneRig, out: Path, *options: str) -> int:
    url = rig.server.settings.database_url
    return run_main(
        "server", "poster", "--database", url, "--data-dir", str(out.parent), "-o", str(out), *options
    )


def test_the_poster_qr_opens_a_phone_only_survey_sent_once_per_session(phone_rig: PhoneRig, tmp_path, capsys):
    out = tmp_path / "poster.png"
    assert poster(phone_rig, out, "--survey", "fft", "--url", BASE) == 0
    assert f"{BASE}/s/main/fft" in capsys.readouterr().out
    image = Image.open(out)
    assert image.size == (1240, 1753)  # A4 at 150 dpi
    (code,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)  # as a phone looks
    assert (code.format, code.text, code.ec_level) == (
        zxingcpp.BarcodeFormat.QRCode,
        f"{BASE}/s/main/fft",
        "M",
    )
    matrix = qr_matrix(code.text)
    quiet = [row[:4] + row[-4:] for row in matrix] + matrix[:4] + matrix[-4:]
    assert not any(any(cells) for cells in quiet)  # a quiet zone of 4 modules on every side

    phone = Phone(phone_rig.server.app)
    phone.open(urlsplit(code.text).path)
    assert phone.heading == "Tell us how we did"
    phone.start()
    assert phone.question == "overall"
    assert "Question 1 of 2" in phone.page.text
    phone.answer("good")
    assert phone.question == "why"
    phone.answer("Quick and friendly")
    assert phone.heading == "Thank you"

    (row,) = phone_rig.responses()
    record = json.loads(row.payload)
    assert (row.kiosk_id, row.channel, row.status, row.site) == (None, "phone", "completed", "main")
    assert (record["kiosk_id"], record["channel"], record["status"]) == (None, "phone", "completed")
    assert record["answers"] == {"overall": "good", "why": "Quick and friendly"}

    again = phone.start()  # the same page session tries to start over and send again
    assert phone.heading == "Thanks, we already have your answers"
    assert again.status_code == 200
    replay = phone.client.post(
        phone.path,
        data={"csrf": "whatever", "question": "why", "action": "next", "answer": "More!"},
    )
    assert "Thanks, we already have your answers" in replay.text
    assert len(phone_rig.responses()) == 1


def test_a_pdf_poster_is_an_a4_page(phone_rig: PhoneRig, tmp_path) -> None:
    out = tmp_path / "poster.pdf"
    assert poster(phone_rig, out, "--survey", "post-visit") == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/MediaBox [ 0 0 595.44 841.68 ]" in data


def test_the_poster_command_refuses_what_it_cannot_print(phone_rig: PhoneRig, tmp_path, capsys) -> None:
    assert poster(phone_rig, tmp_path / "poster.png", "--survey", "no-such-survey") == 2
    assert "not published for site main" in capsys.readouterr().err
    assert poster(phone_rig, tmp_path / "poster.png", "--survey", "fft", "--site", "atlantis") == 2
    assert poster(phone_rig, tmp_path / "poster.svg", "--survey", "fft") == 2
    assert "name a .png or a .pdf" in capsys.readouterr().err
    assert poster(phone_rig, tmp_path / "poster.png", "--survey", "fft", "--url", "ftp://x") == 2
    assert not (tmp_path / "poster.png").exists()


def test_poster_links_need_a_known_site_and_a_published_survey(phone_rig: PhoneRig) -> None:
    phone_rig.server.enroll("desk-north", site="north")
    phone = Phone(phone_rig.server.app)
    for path in ("/s/atlantis/fft", "/s/main/no-such-survey", "/s/main/FFT", "/s/%00/fft"):
        assert phone.open(path).status_code == 404, path
        assert phone.heading == "This link isn't valid"
    assert phone.open("/s/north/post-visit").status_code == 200
    phone.start()
    assert phone.question == "overall"


def test_starting_and_sending_are_rate_limited_per_address(phone_rig: PhoneRig) -> None:
    pages = phone_rig.server.app.state.phone_pages
    pages.limits = Limiters(PhoneLimits(poster_starts=3, poster_submits=1))
    started = []
    for _ in range(4):
        phone = Phone(phone_rig.server.app, address="203.0.113.5")
        phone.open("/s/main/fft")
        started.append(phone.start())
    assert [r.status_code for r in started] == [200, 200, 200, 429]
    assert started[-1].headers["retry-after"]

    first, second = (Phone(phone_rig.server.app, address="203.0.113.9") for _ in range(2))
    for phone in (first, second):
        phone.open("/s/main/fft")
        phone.start()
        phone.answer("very_good")
    assert first.answer("").status_code == 200 and first.heading == "Thank you"
    refused = second.answer("")
    assert refused.status_code == 429 and second.heading == "Please wait a moment"
    assert len(phone_rig.responses()) == 1


def test_a_poster_form_needs_its_session_cookie(phone_rig: PhoneRig) -> None:
    phone = Phone(phone_rig.server.app)
    phone.open("/s/main/fft")
    phone.start()
    csrf = phone.field("csrf")
    stranger = Phone(phone_rig.server.app)
    stranger.path = "/s/main/fft"
    response = stranger.client.post(
        stranger.path, data={"csrf": csrf, "question": "overall", "action": "next", "answer": "poor"}
    )
    assert response.status_code == 409
    for forged in ("not-a-uuid.secret", "%00.x", f"{phone_rig.link({}).response_id}.guess"):
        stranger.client.cookies.set("visit", forged, path="/s/main/fft")
        response = stranger.client.post(stranger.path, data={"csrf": csrf, "question": "overall"})
        assert response.status_code == 409, forged
    assert phone_rig.responses() == []
    assert phone.answer("poor").status_code == 200 and phone.question == "why"
