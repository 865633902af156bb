"""Read aloud: find a text-to-speech engine on this device, and speak without ever blocking the UI.

espeak-ng on Linux and the Raspberry Pi, the platform's own engine (through plyer) on Android, and
nothing elsewhere: the kiosk then hides its speaker button rather than show one that does nothing.
Each utterance runs in its own thread; a new one, or `stop()`, cuts the previous one short, so a
child tapping the button ten times does not queue ten readings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Protocol

ESPEAK_PROGRAMS = ("espeak-ng",)
# Slower than espeak's default of 175 words a minute: many of our readers are elderly.
ESPEAK_WORDS_PER_MINUTE = 145


class Speech(Protocol):
    name: str

    def say(self, text: str, language: str) -> None: ...

    def stop(self) -> None: ...


class EspeakSpeech:
    """espeak-ng as a child process, fed the text on stdin so that no text is ever read as an option."""

    name = "espeak-ng"

    def __init__(self, program: str) -> None:
        self.program = program
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._generation = 0

    def say(self, text: str, language: str) -> None:
        self.stop()
        with self._lock:
            generation = self._generation
        threading.Thread(target=self._speak, args=(text, language, generation), daemon=True).start()

    def _speak(self, text: str, language: str, generation: int) -> None:
        command = [self.program, "-v", language, "-s", str(ESPEAK_WORDS_PER_MINUTE), "-b", "1"]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return
        with self._lock:
            current = generation == self._generation
            if current:
                previous, self._process = self._process, process
        if not current:  # stopped, or replaced, while this one was starting
            process.kill()
            process.wait()
            return
        if previous is not None and previous.poll() is None:
            previous.terminate()
        try:
            process.communicate(text.encode("utf-8"), timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def stop(self) -> None:
        with self._lock:
            self._generation += 1
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()


class PlyerSpeech:
    """Android's TextToSpeech through plyer; it speaks in the device's language setting."""

    name = "plyer"

    def __init__(self, speak: Callable[[str], object]) -> None:
        self._speak = speak

    def say(self, text: str, language: str) -> None:
        threading.Thread(target=self._run, args=(text,), daemon=True).start()

    def _run(self, text: str) -> None:
        try:
            self._speak(text)
        except Exception:  # an engine missing or busy must not take the kiosk down
            return

    def stop(self) -> None:
        """plyer offers no way to interrupt; the next reading replaces this one on Android."""


def on_android() -> bool:
    # python-for-android sets these for every app it starts.
    return "ANDROID_ARGUMENT" in os.environ or "ANDROID_PRIVATE" in os.environ


def detect_speech() -> Speech | None:
    """The engine this device has, or None when it has none (the speaker button is then hidden)."""
    if on_android():
        try:
            from plyer import tts
        except ImportError:
            return None
        return PlyerSpeech(tts.speak)
    for name in ESPEAK_PROGRAMS:
        if program := shutil.which(name):
            return EspeakSpeech(program)
    return None
