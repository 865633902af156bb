"""Fixtures every test module may use; keep this small and generic."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty kiosk data folder, as `--data-dir` would name it."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def repo() -> Path:
    """The project's root, where `python main.py` runs."""
    return Path(__file__).resolve().parent.parent
