"""The kiosk's configuration: one JSON file in its data folder, checked field by field on load.

Front-desk staff never edit it; IT or the admin screen do. A bad file gets a clear error naming the
field, and the file is only ever replaced atomically, so a power cut cannot leave half a config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import os
import secrets
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

APP_NAME = "patient-feedback-kiosk"
CONFIG_NAME = "config.json"
PIN_ITERATIONS = 200_000
DEFAULT_PIN = "2468"
# The PIN's length, in digits.
PIN_MIN, PIN_MAX = 4, 8
NOT_NEGATIVE = ("too_fast_seconds", "repeat_seconds")
POSITIVE = (
    "idle_seconds",
    "thank_you_seconds",
    "handoff_seconds",
    "handoff_minutes",
    "retention_days",
    "sync_interval_seconds",
)


class ConfigError(ValueError):
    """A configuration that cannot be used, said as `config.json: field: what`."""


def data_dir_from(arg: str | os.PathLike[str] | None) -> Path:
    """--data-dir, then $KIOSK_DATA_DIR, then the platform's user data folder."""
    if arg:
        return Path(arg).expanduser()
    if env := os.environ.get("KIOSK_DATA_DIR"):
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """A salted PBKDF2 hash, so that reading the config file does not reveal the admin PIN."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PIN_ITERATIONS)
    return f"pbkdf2_sha256${PIN_ITERATIONS}${salt.hex()}${digest.hex()}"


@cache
def default_pin_hash() -> str:
    """Hashed once per process: the default PIN is no secret, and each hash costs a fifth of a second."""
    return hash_pin(DEFAULT_PIN)


def _is_pin_hash(stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != "pbkdf2_sha256" or not parts[1].isdecimal() or int(parts[1]) < 1:
        return False
    try:
        return len(bytes.fromhex(parts[2])) >= 8 and len(bytes.fromhex(parts[3])) == 32
    except ValueError:
        return False


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        candidate = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return scheme == "pbkdf2_sha256" and hmac.compare_digest(candidate, expected)


@dataclass
class KioskConfig:
    clinic_name: str = "Our practice"
    logo: str | None = None
    survey: str = "post-visit"
    kiosk_id: str | None = None
    server_url: str | None = None
    token: str | None = None
    ca_bundle: str | None = None
    pin_hash: str = field(default_factory=default_pin_hash)
    idle_seconds: int | None = None
    thank_you_seconds: int | None = None
    too_fast_seconds: float = 3.0
    repeat_seconds: float = 30.0
    handoff_seconds: int = 60
    handoff_minutes: int = 30
    retention_days: int = 90
    sync_interval_seconds: int = 30
    large_text: bool = False
    high_contrast: bool = False
    # Folders the admin screen offers for exports besides USB sticks (a network share, a test's folder).
    export_folders: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, data_dir: Path) -> KioskConfig:
        """Read config.json; a missing file means the defaults, a bad one raises ConfigError."""
        path = Path(data_dir) / CONFIG_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: (file): cannot read: {e}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {e.lineno}, column {e.colno}: not valid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: (top level): must be an object")
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = CONFIG_NAME) -> KioskConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        problems = []
        for key, value in data.items():
            if key not in known:
                problems.append(f"{source}: {key}: not a known setting (known: {', '.join(known)})")
            elif (why := _type_problem(known[key].type, value)) is not None:
                problems.append(f"{source}: {key}: {why}")
        if problems:
            raise ConfigError("\n".join(problems))
        config = cls(**data)
        for key in POSITIVE:
            value = getattr(config, key)
            if value is not None and value <= 0:
                problems.append(f"{source}: {key}: must be a positive number, not {value}")
        for key in NOT_NEGATIVE:
            value = getattr(config, key)
            if not math.isfinite(value) or value < 0:
                problems.append(f"{source}: {key}: must be 0 or more, not {value}")
        if not _is_pin_hash(config.pin_hash):
            problems.append(f"{source}: pin_hash: is not a PIN hash; remove it to go back to the default PIN")
        if problems:
            raise ConfigError("\n".join(problems))
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, data_dir: Path) -> None:
        """Replace config.json atomically; it holds the kiosk's token, so only its owner may read it."""
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / CONFIG_NAME
        tmp = folder / f".{CONFIG_NAME}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @property
    def enrolled(self) -> bool:
        return bool(self.server_url and self.token and self.kiosk_id)

    def check_pin(self, pin: str) -> bool:
        return pin_matches(pin, self.pin_hash)

    def set_pin(self, pin: str) -> None:
        if not (pin.isascii() and pin.isdigit() and PIN_MIN <= len(pin) <= PIN_MAX):
            raise ConfigError("pin: must be 4 to 8 digits")
        self.pin_hash = hash_pin(pin)


_JSON_WORDS = {
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list[str]": "a list of strings",
}


def _type_problem(annotation: Any, value: Any) -> str | None:
    """Check a value against the annotations used above: str, int, float, bool, list[str], X | None."""
    names = [part.strip() for part in str(annotation).split("|")]
    if value is None:
        return None if "None" in names else "must not be null"
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list[str]": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }
    if any(ok.get(name, False) for name in names):
        return None
    wanted = " or ".join(_JSON_WORDS.get(n, n) for n in names if n != "None")
    return f"must be {wanted}, not {json.dumps(value)}"
