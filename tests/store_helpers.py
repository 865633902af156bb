"""Shared by the store tests: responses that exercise JSON's corners, and a real small tmpfs."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def make_record(n: int, cycle: int = 0) -> dict[str, Any]:
    """A response whose content follows from (cycle, n), so any copy found can be re-derived."""
    return {
        "id": str(uuid.UUID(int=(cycle << 32) | n | (0x4 << 76))),
        "survey_id": "fft" if n % 3 else "post-visit",
        "survey_version": 1 + n % 2,
        "kiosk_id": None if n % 5 == 0 else f"front-desk-{cycle}",
        "channel": "kiosk",
        "language": ["en", "cy", "zh", "ar"][n % 4],
        "started_at": "2026-11-27T10:00:00Z",
        "submitted_at": "2026-11-27T10:01:10Z",
        "status": ["completed", "partial", "handed_off"][n % 3],
        "answers": {
            "overall": "very_good",
            "why": f'Kind nurse \u00e9\u4e2d\U0001f600 "quoted" \\ line\nbreak #{n}',
            "recommend": n % 11,
            "ratio": n / 7,
            "agree": n % 2 == 0,
            "topics": ["staff", "wait"][: n % 3],
        },
        "cycle": cycle,
        "n": n,
    }


def derived(record: dict[str, Any]) -> dict[str, Any]:
    return make_record(record["n"], record["cycle"])


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path | None]:
    """A real size-limited file system, or None where this machine (a container) forbids mounts."""
    where.mkdir(parents=True, exist_ok=True)
    if not can_mount():
        yield None
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True, capture_output=True)
