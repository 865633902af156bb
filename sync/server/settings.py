"""Where the server keeps its data and how far it trusts the network in front of it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.config import data_dir_from
from sync.protocol import MAX_BODY_BYTES

SERVER_FOLDER = "server"
SETTINGS_ENV = "KIOSK_SERVER_SETTINGS"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
SETTINGS_FILE = "settings.json"
SMTP_SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class Settings:
    database_url: str
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    auth_failures_allowed: int = 20
    auth_failure_window_s: float = 60.0
    # The admin web (docs/admin.md); these come from <server dir>/settings.json.
    public_url: str | None = None
    time_zone: str = "UTC"
    admin_idle_timeout_s: float = 1800.0
    admin_session_max_s: float = 12 * 3600.0
    admin_login_failures: int = 5
    admin_lockout_s: float = 900.0
    alert_service_days: float = 2.0
    alert_rules: dict[str, Any] = field(default_factory=dict)
    fleet_silent_hours: float = 24.0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()

    def to_env(self) -> str:
        """Settings for worker processes, which uvicorn starts from an import string."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        data = json.loads(os.environ[SETTINGS_ENV])
        data["trusted_proxies"] = tuple(data["trusted_proxies"])
        data["smtp_to"] = tuple(data.get("smtp_to", ()))
        return cls(**data)

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host and self.smtp_from and self.smtp_to)


class SettingsError(ValueError):
    """A settings file the server cannot use, said as `FILE: key: what`."""


# What settings.json may hold, and the JSON types each key takes.
_FILE_KEYS: dict[str, tuple[type, ...]] = {
    "public_url": (str,),
    "time_zone": (str,),
    "admin_idle_timeout_s": (int, float),
    "admin_session_max_s": (int, float),
    "admin_login_failures": (int,),
    "admin_lockout_s": (int, float),
    "alert_service_days": (int, float),
    "alert_rules": (dict,),
    "fleet_silent_hours": (int, float),
    "smtp_host": (str,),
    "smtp_port": (int,),
    "smtp_security": (str,),
    "smtp_user": (str,),
    "smtp_password": (str,),
    "smtp_from": (str,),
    "smtp_to": (list, str),
}


def with_settings_file(settings: Settings, folder: Path) -> Settings:
    """`settings` with what `<server dir>/settings.json` says, if that file exists.

    The admin web's knobs (time zone, service level, SMTP) live in a file beside the database, so
    a clinic sets them once; a missing file means the defaults.
    """
    path = folder / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return settings
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SettingsError(f"{path}: cannot read it as JSON: {e}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: must be a JSON object of settings")
    values: dict[str, Any] = {}
    for key, value in data.items():
        kinds = _FILE_KEYS.get(key)
        if kinds is None:
            raise SettingsError(f"{path}: {key}: not a setting (known: {', '.join(sorted(_FILE_KEYS))})")
        if type(value) not in kinds or (type(value) in (int, float) and value < 0):
            raise SettingsError(f"{path}: {key}: {json.dumps(value)[:60]} is not a valid value")
        values[key] = value
    if isinstance(values.get("smtp_to"), str):
        values["smtp_to"] = [values["smtp_to"]]
    if "smtp_to" in values:
        if not all(isinstance(a, str) and "@" in a for a in values["smtp_to"]):
            raise SettingsError(f"{path}: smtp_to: give email addresses")
        values["smtp_to"] = tuple(values["smtp_to"])
    if values.get("smtp_security", "starttls") not in SMTP_SECURITY:
        raise SettingsError(f"{path}: smtp_security: one of {', '.join(SMTP_SECURITY)}")
    try:
        ZoneInfo(values.get("time_zone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{path}: time_zone: not a time zone name such as Europe/London") from None
    return replace(settings, **values)


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
