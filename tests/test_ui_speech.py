"""Read aloud: which engine is found, and that speaking never waits for the engine."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from kiosk.speech import EspeakSpeech, PlyerSpeech, detect_speech


def fake_espeak(folder: Path, said: Path, seconds: float = 0.0) -> Path:
    program = folder / "espeak-ng"
    program.write_text(f'#!/bin/sh\necho "$@" >> {said}\ncat >> {said}\nsleep {seconds}\n')
    program.chmod(0o755)
    return program


def wait_for(path: Path, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text(encoding="utf-8")):
            return content
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never reached {path}")


def test_no_engine_means_no_button(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("ANDROID_ARGUMENT", raising=False)
    monkeypatch.delenv("ANDROID_PRIVATE", raising=False)
    assert detect_speech() is None


def test_espeak_found_on_path_and_given_text_on_stdin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    said = tmp_path / "said.txt"
    fake_espeak(tmp_path, said)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    speech = detect_speech()
    assert isinstance(speech, EspeakSpeech)
    speech.say("-v en ¿Cómo fue su visita?", "es")
    content = wait_for(said, "visita?")
    assert content.splitlines()[0] == "-v es -s 145 -b 1"
    assert "-v en ¿Cómo fue su visita?" in content  # read as text, never as an option


def test_saying_returns_at_once_and_a_new_reading_cuts_the_old(tmp_path: Path) -> None:
    said = tmp_path / "said.txt"
    speech = EspeakSpeech(str(fake_espeak(tmp_path, said, seconds=30)))
    started = time.monotonic()
    speech.say("first", "en")
    assert time.monotonic() - started < 0.2
    wait_for(said, "first")
    first = speech._process
    speech.say("second", "en")
    wait_for(said, "second")
    assert first is not None and first.wait(timeout=5) is not None
    speech.stop()
    deadline = time.monotonic() + 5
    while speech._process is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert speech._process is None


def test_android_uses_plyer(monkeypatch: pytest.MonkeyPatch) -> None:
    spoken: list[str] = []
    plyer = types.ModuleType("plyer")
    plyer.tts = types.SimpleNamespace(speak=spoken.append)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "plyer", plyer)
    monkeypatch.setenv("ANDROID_ARGUMENT", "/data/app")
    speech = detect_speech()
    assert isinstance(speech, PlyerSpeech)
    speech.say("Hola", "es")
    deadline = time.monotonic() + 5
    while not spoken and time.monotonic() < deadline:
        time.sleep(0.01)
    assert spoken == ["Hola"]


def test_android_without_plyer_has_no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plyer", None)
    monkeypatch.setenv("ANDROID_ARGUMENT", "/data/app")
    assert detect_speech() is None
