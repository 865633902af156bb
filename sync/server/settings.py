"""Where the server keeps its data and how far it trusts the network in front of it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kiosk.config import data_dir_from
from sync.protocol import MAX_BODY_BYTES

SERVER_FOLDER = "server"
SETTINGS_ENV = "KIOSK_SERVER_SETTINGS"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Settings:
    database_url: str
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    auth_failures_allowed: int = 20
    auth_failure_window_s: float = 60.0

    def to_env(self) -> str:
        """Settings for worker processes, which uvicorn starts from an import string."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        data = json.loads(os.environ[SETTINGS_ENV])
        data["trusted_proxies"] = tuple(data["trusted_proxies"])
        return cls(**data)


def server_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The server keeps to a sub-folder, so a kiosk and a server may share one data folder."""
    return data_dir_from(data_dir) / SERVER_FOLDER


def database_url(database: str | None, data_dir: str | os.PathLike[str] | None) -> str:
    """--database, else a SQLite file in the server's folder (created on first use)."""
    if database:
        return database
    folder = server_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return f"sqlite:///{folder / 'server.db'}"
