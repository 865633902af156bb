"""The kiosk on a real Kivy window (offscreen SDL + Mesa), driven by touches on the real widgets.

Each test runs one scenario of tests/ui_driver.py in its own process (one window per process, and
pytest must not host Kivy's loop), then asserts on what the driver saw and on the records that the
real ResponseStore kept in the data folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import KioskConfig
from kiosk.record import record_problems
from kiosk.store import ResponseStore
from kiosk.survey import builtin_survey

pytestmark = pytest.mark.ui

DRIVER = Path(__file__).with_name("ui_driver.py")
FFT = {
    "en": {"overall": "good", "why": "Kind nurse"},
    "es": {"overall": "poor", "why": "Atención rápida ñ ¿"},
}
POST_VISIT = {
    "overall": 2,
    "front_desk": "somewhat",
    "wait": "over_30",
    "recommend": 9,
    "improve": "Shorter wait, more chairs",
    "contact_ok": True,
    "contact_details": "555 0101",
}
IMPROVE = {"en": "Shorter wait, more chairs", "es": "Menos espera, más café ¡sí!"}


def run_driver(
    scenario: str, data_dir: Path, survey: str = "fft", timeout: float = 120, **params: Any
) -> dict:
    config = params.pop("config", {})
    data_dir.mkdir(parents=True, exist_ok=True)
    KioskConfig.from_dict({"survey": survey, "kiosk_id": "ui-test", **config}).save(data_dir)
    shots = os.environ.get("KIOSK_UI_SHOTS")
    args = {
        "scenario": scenario,
        "data_dir": str(data_dir),
        "shots": shots and f"{shots}/{scenario}",
        **params,
    }
    done = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        # llvmpipe's own raster threads only fight the test for this machine's two cores.
        env={"LP_NUM_THREADS": "0", **os.environ, "PATH": params.get("path", os.environ["PATH"])},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"driver failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def stored(data_dir: Path) -> list[dict]:
    with ResponseStore(data_dir) as store:
        return list(store.iter_records())


@pytest.mark.parametrize("language", ["en", "es"])
def test_fft_completed_on_screen(tmp_path: Path, language: str) -> None:
    """The save takes 0.6 s (a slow SD card); the screen stays live and thanks only afterwards."""
    result = run_driver("complete", tmp_path, "fft", answers=FFT[language], language=language, slow_save=0.6)
    assert result["shown"] == ["overall", "why"]
    assert result["finish_tap_seconds"] < 0.3, "the save blocked the UI thread"
    assert result["status_while_saving"] == [
        {"en": "Saving your answers…", "es": "Guardando sus respuestas…"}[language]
    ]
    assert result["saved_when_thank_you_appeared"] == [1], "Thank you appeared before the save returned"
    assert result["thank_you_text"] == builtin_survey("fft").text(builtin_survey("fft").thank_you, language)
    assert result["after_thank_you"] == "welcome"
    (record,) = stored(tmp_path)
    assert record_problems(record) == []
    assert (record["status"], record["language"], record["kiosk_id"]) == ("completed", language, "ui-test")
    assert record["answers"] == FFT[language]
    assert "flags" not in record


@pytest.mark.parametrize("language", ["en", "es"])
def test_post_visit_completed_on_screen(tmp_path: Path, language: str) -> None:
    answers = POST_VISIT | {"improve": IMPROVE[language]}
    result = run_driver("complete", tmp_path, "post-visit", answers=answers, language=language)
    assert result["shown"] == list(POST_VISIT)
    assert result["saved_when_thank_you_appeared"] == [1]
    (record,) = stored(tmp_path)
    assert record["answers"] == answers
    assert (record["status"], record["language"]) == ("completed", language)


def test_idle_timeout_keeps_a_partial(tmp_path: Path) -> None:
    result = run_driver("idle", tmp_path, "post-visit", answer=4)
    assert not result["overlay_before_deadline"] and result["overlay_shown"]
    assert min(result["button_size_dp"]) >= 96
    assert result["countdown"] == [
        "This survey will close in 20 seconds.",
        "This survey will close in 15 seconds.",
    ]
    assert result["still_after_stray_tap"] and result["dismissed_by_button"]
    assert result["countdown_again"]
    assert (result["phase_after"], result["screen_after"], result["overlay_after"]) == (
        "welcome",
        "welcome",
        False,
    )
    (record,) = stored(tmp_path)
    assert (record["status"], record["answers"]) == ("partial", {"overall": 4})


def test_idle_timeout_discards_when_the_survey_says_so(tmp_path: Path) -> None:
    survey = dict(builtin_survey("fft").raw) | {"id": "fft-discard", "partial_policy": "discard"}
    survey.pop("$schema")
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "discard.json").write_text(json.dumps(survey), encoding="utf-8")
    result = run_driver("idle", tmp_path, "discard.json", answer="good")
    assert result["overlay_shown"] and result["phase_after"] == "welcome"
    assert stored(tmp_path) == []


def test_privacy_between_patients(tmp_path: Path) -> None:
    secrets = ["Menos espera", "555 0101", "Menos esp"]
    answers = POST_VISIT | {"improve": IMPROVE["es"]}
    result = run_driver("privacy", tmp_path, "post-visit", answers=answers, secrets=secrets)
    assert result["shown"] == list(POST_VISIT)
    assert result["after_completed"] == []
    assert result["after_walk_away"] == []
    assert (result["language"], result["font_scale"], result["theme"]) == ("en", 1.0, "calm")
    assert result["screen"] == "welcome"
    records = sorted(stored(tmp_path), key=lambda r: r["status"])
    assert [r["status"] for r in records] == ["completed", "partial"]
    assert records[1]["answers"]["improve"] == "Menos esp5"


@pytest.mark.parametrize("survey, language", [("post-visit", "es"), ("fft", "en")])
def test_touch_targets_and_text_fit_on_every_screen(tmp_path: Path, survey: str, language: str) -> None:
    answers = POST_VISIT | {"improve": IMPROVE[language]} if survey == "post-visit" else FFT[language]
    result = run_driver(
        "layout", tmp_path, survey, answers=answers, language=language, still_there_at="overall", timeout=180
    )
    assert result["problems"] == []
    visited = result["visited"]
    for screen in ("welcome", "still-there", "thank-you", "save-failed"):
        assert f"{screen}-normal" in visited and f"{screen}-large" in visited
    assert {"pin", "admin"} <= set(visited)
    sizes = result["font_sizes"]
    assert sizes["question-large"] == pytest.approx(sizes["question-normal"] * 1.3)
    assert sizes["start-large"] == pytest.approx(sizes["start-normal"] * 1.3)


def _small_disk(path: Path) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)]).returncode == 0


def test_save_failure_is_calm_and_the_answers_are_kept(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _small_disk(disk):
        pytest.skip("needs root to mount a small tmpfs") if not os.environ.get("CI") else pytest.fail(
            "no tmpfs"
        )
    try:
        result = run_driver("save_failure", disk / "data", "fft", answers=FFT["en"])
        assert result["phase"] == "save_failed"
        assert result["message"] == "We are sorry: your answers could not be saved just now."
        assert "Last error: " in result["admin_error"] and "none" not in result["admin_error"]
        assert "Not saved yet, kept in memory: 1" in result["admin_pending"]
        assert result["phase_after_space_freed"] == "thank_you"
        assert "thank_you" in result["screens"]
        records = stored(disk / "data")
        assert sorted(r["answers"]["why"] for r in records) == ["Kind nurse", "second try"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_pin_lockout_and_kiosk_hardening(tmp_path: Path) -> None:
    result = run_driver("pin", tmp_path, "fft")
    assert result["escape_outside_consumed"] and result["close_outside_blocked"]
    assert not result["short_hold_opened"] and result["opened"]
    assert result["messages"][:4] == [
        "Wrong PIN. 4 tries left.",
        "Wrong PIN. 3 tries left.",
        "Wrong PIN. 2 tries left.",
        "Wrong PIN. 1 try left.",
    ]
    assert result["messages"][4] == "Too many wrong PINs. Try again in 5:00."
    assert result["locked_phase"] == "welcome" and result["keys_disabled_when_locked"]
    assert result["pad_closed_by_itself"] and result["phase_after_lock"] == "admin"
    assert result["admin_texts"] == ["Responses stored: 0", "Waiting to sync: 0", "Last error: none"]
    assert not result["close_in_admin_blocked"] and result["exit_button"]


def test_read_aloud_says_the_words_under_faces_the_survey_did_not_label(tmp_path: Path) -> None:
    survey = tmp_path / "unlabelled.json"
    text = {"en": "How was it?"}
    survey.write_text(
        json.dumps(
            {
                "id": "unlabelled",
                "version": 1,
                "languages": ["en"],
                "title": text,
                "welcome": text,
                "thank_you": text,
                "questions": [{"id": "overall", "type": "rating", "required": True, "text": text}],
            }
        ),
        encoding="utf-8",
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    said = tmp_path / "said.txt"
    fake = bin_dir / "espeak-ng"
    fake.write_text(f'#!/bin/sh\necho "$@" > {said}\ncat >> {said}\n')
    fake.chmod(0o755)
    result = run_driver(
        "speech", tmp_path / "data", str(survey), language="en", path=f"{bin_dir}:{os.environ['PATH']}"
    )
    assert result == {"speaker_shown": True, "engine": "espeak-ng"}
    assert "How was it?. Very bad. Bad. Okay. Good. Very good." in said.read_text(encoding="utf-8")


def test_read_aloud_button_hidden_without_an_engine(tmp_path: Path) -> None:
    result = run_driver("speech", tmp_path, "fft", language="es", path="/nonexistent")
    assert result == {"speaker_shown": False, "engine": None}


def test_read_aloud_with_espeak(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    said = tmp_path / "said.txt"
    fake = bin_dir / "espeak-ng"
    fake.write_text(f'#!/bin/sh\necho "$@" > {said}\ncat >> {said}\n')
    fake.chmod(0o755)
    result = run_driver(
        "speech", tmp_path / "data", "fft", language="es", path=f"{bin_dir}:{os.environ['PATH']}"
    )
    assert result == {"speaker_shown": True, "engine": "espeak-ng"}
    words = said.read_text(encoding="utf-8")
    assert words.startswith("-v es ")
    assert "En general, ¿cómo fue su experiencia con nuestro servicio?" in words
    assert "Muy buena. Buena. Ni buena ni mala" in words
