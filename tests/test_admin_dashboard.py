"""The dashboard: NHS FFT shares, the recommend score, distributions, trends, comments beside their
scores, and every breakdown of fewer than 5 hidden. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from admin_helpers import login, make_admin, store
from fastapi.testclient import TestClient
from server_helpers import ApiServer, fft_record, post_visit_record

from kiosk.survey import builtin_survey
from sync.server.admin import dashboard
from sync.server.admin.dashboard import Selection, build

pytest_plugins = ["server_fixtures", "admin_fixtures"]

UTC = ZoneInfo("UTC")
FFT = builtin_survey("fft")
POST_VISIT = builtin_survey("post-visit")
PHONE_NUMBER = "07700 900123"


def fft(day: str, overall: str, why: str | None = None, hour: str = "10") -> dict[str, Any]:
    answers = {"overall": overall, **({"why": why} if why else {})}
    moment = f"2026-11-{day}T{hour}:00:00Z"
    return fft_record(answers=answers, submitted_at=moment, started_at=moment)


@pytest.fixture
def server(admin_db: str, cheap_argon2: None) -> Iterator[ApiServer]:
    """Two weeks of the Friends and Family Test at two sites, and some post-visit surveys.

    Monday 2 Nov, north: 6 responses (shown). Tuesday 3 Nov, north: 3 (hidden). Wednesday 11 Nov,
    south: 2 (hidden, and the second week and site south with it).
    """
    server = ApiServer(admin_db)
    make_admin(server.engine)
    monday = ["very_good", "very_good", "good", "neither", "poor", "dont_know"]
    north = [fft("02", v, why=f"Monday {v}" if v in ("very_good", "poor") else None) for v in monday]
    north += [fft("03", "very_poor", why="Tuesday very_poor"), fft("03", "good"), fft("03", "good")]
    store(server.engine, north, site="north")
    store(
        server.engine, [fft("11", "very_good"), fft("11", "very_good", why="Wednesday south")], site="south"
    )
    scores = [10, 9, 9, 8, 7, 6, 0]
    visits = [
        post_visit_record(
            n=n,
            submitted_at=f"2026-11-0{2 + n % 5}T09:00:00Z",
            answers={
                "overall": 1 + n % 5,
                "front_desk": "definitely",
                "wait": "under_5",
                "recommend": score,
                **(
                    {"improve": "Call me back", "contact_ok": True, "contact_details": PHONE_NUMBER}
                    if n == 0
                    else {}
                ),
            },
        )
        for n, score in enumerate(scores)
    ]
    store(server.engine, visits, site="north")
    yield server
    server.close()


def board(
    server: ApiServer, survey: str, site: str | None = None, zone: ZoneInfo = UTC
) -> dashboard.Dashboard:
    selection = Selection(survey, site, date(2026, 11, 2), date(2026, 11, 15), zone)
    with server.engine.connect() as connection:
        return build(connection, selection, [FFT if survey == "fft" else POST_VISIT])


def test_fft_shares_follow_the_nhs_method_and_small_breakdowns_hide(server):
    whole = board(server, "fft")
    assert whole.total == 11 and not whole.hidden
    assert whole.fft is not None and whole.fft.answered == 11
    assert whole.fft.positive == pytest.approx(100 * 7 / 11), "Very good + Good over all, Don't know included"
    assert whole.fft.negative == pytest.approx(100 * 2 / 11), "Poor + Very poor over all"
    days = dict(whole.per_day)
    assert len(days) == 14 and days[date(2026, 11, 2)] == 6
    assert days[date(2026, 11, 3)] is None and days[date(2026, 11, 11)] is None, "1 to 4: hidden"
    assert days[date(2026, 11, 4)] == 0, "none is shown as 0"
    weeks = {t.start: t for t in whole.trends}
    assert weeks[date(2026, 11, 2)].fft_positive == pytest.approx(100 * 5 / 9)
    assert weeks[date(2026, 11, 9)].fft_positive is None, "a week of 2 is hidden"
    sites = {s.site: s for s in whole.sites}
    assert sites["north"].fft_positive == pytest.approx(100 * 5 / 9)
    assert (sites["south"].count, sites["south"].fft_positive, sites["south"].fft_negative) == (2, None, None)
    (overall, why) = whole.distributions
    assert [(b.label, b.count) for b in overall.bars] == [
        ("Very good", 4),
        ("Good", 3),
        ("Neither good nor poor", 1),
        ("Poor", 1),
        ("Very poor", 1),
        ("Don't know", 1),
    ]
    assert (why.answered, why.bars) == (5, [])
    comments = {c.texts[0][1]: c for c in whole.comments}
    assert set(comments) == {"Monday very_good", "Monday poor", "Tuesday very_poor", "Wednesday south"}
    assert comments["Tuesday very_poor"].scores == [
        ("Overall, how was your experience of our service?", "Very poor")
    ]
    assert whole.comments[0].texts[0][1] == "Wednesday south", "newest first"

    south = board(server, "fft", "south")
    assert south.total == 2 and south.hidden
    assert south.fft is not None and south.fft.positive is None and south.comments == []
    assert all(d.hidden for d in south.distributions)


def test_the_recommend_score_and_contact_details_never_shown(server):
    visits = board(server, "post-visit")
    (recommend,) = visits.recommend
    assert recommend.answered == 7
    assert recommend.promoters == pytest.approx(100 * 3 / 7) and recommend.detractors == pytest.approx(
        100 * 2 / 7
    )
    assert recommend.score == pytest.approx(100 / 7), "% 9-10 minus % 0-6"
    scale = next(d for d in visits.distributions if d.question.id == "recommend")
    assert [b.count for b in scale.bars] == [1, 0, 0, 0, 0, 0, 1, 1, 1, 2, 1]
    assert "contact_details" not in [d.question.id for d in visits.distributions]
    (comment,) = visits.comments
    assert comment.texts == [("What could we do better?", "Call me back")]
    assert ("How likely are you to recommend our practice to friends and family?", "10") in comment.scores
    assert PHONE_NUMBER not in repr(visits)


def test_days_are_the_practices_own(server):
    tokyo = board(server, "fft", zone=ZoneInfo("Asia/Tokyo"))
    days = dict(tokyo.per_day)
    assert days[date(2026, 11, 2)] == 6, "10:00 UTC is 19:00 in Tokyo, the same day"
    store(server.engine, [fft("05", "good", hour="20") for _ in range(5)], site="north")
    assert dict(board(server, "fft", zone=ZoneInfo("Asia/Tokyo")).per_day)[date(2026, 11, 6)] == 5
    assert dict(board(server, "fft").per_day)[date(2026, 11, 5)] == 5


def test_exactly_five_is_shown():
    tally = dashboard._Tally("overall", [])
    for _ in range(4):
        tally.add({"overall": "good"})
    assert tally.fft_shares() == (4, None, None)
    tally.add({"overall": "poor"})
    assert tally.fft_shares() == (5, 80.0, 20.0)
    assert [dashboard.shown(n) for n in (0, 1, 4, 5)] == [True, False, False, True]


def test_the_page_shows_figures_charts_with_text_and_hides_small_counts(server):
    client = TestClient(server.app)
    login(client)
    page = client.get("/admin/dashboard?survey=fft&since=2026-11-02&until=2026-11-15")
    assert page.status_code == 200
    html = page.text
    assert "64%</span> positive" in html and "18%</span> negative, of 11 answers" in html
    assert html.count('role="img"') == 3, "per day, trend, and the one scored question"
    labels = re.findall(r'role="img" aria-label="([^"]+)"', html)
    assert any("Very good: 4 (36%)" in label for label in labels)
    assert "<svg" in html and "fewer than 5" in html
    assert "Tuesday very_poor" in html and "Very poor" in html
    south = client.get("/admin/dashboard?survey=fft&site=south&since=2026-11-02&until=2026-11-15").text
    assert "Fewer than 5 responses match" in south and "Wednesday south" not in south and "<svg" not in south
    visits = client.get("/admin/dashboard?survey=post-visit&since=2026-11-02&until=2026-11-15").text
    assert "+14" in visits and "Call me back" in visits and PHONE_NUMBER not in visits
    bad = client.get("/admin/dashboard?survey=fft&since=2026-02-31")
    assert bad.status_code == 400 and "is not a date" in bad.text
    assert client.get("/admin/dashboard?survey=nope").status_code == 400
