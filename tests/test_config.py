"""config.json: defaults, field-by-field errors, atomic 0600 saves (SIGKILL mid-save), the admin PIN."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kiosk.config as config_module
from kiosk.config import (
    APP_NAME,
    CONFIG_NAME,
    DEFAULT_PIN,
    PIN_ITERATIONS,
    ConfigError,
    KioskConfig,
    data_dir_from,
    default_pin_hash,
    hash_pin,
    pin_matches,
)


@pytest.fixture(autouse=True)
def quick_pins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real PIN hash takes a fifth of a second by design; these tests need many of them."""
    monkeypatch.setattr(config_module, "PIN_ITERATIONS", 1000)
    default_pin_hash.cache_clear()
    yield
    default_pin_hash.cache_clear()


def write(data_dir: Path, text: str) -> Path:
    path = data_dir / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def problems(data_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        KioskConfig.load(data_dir)
    return str(caught.value).splitlines()


def test_missing_file_means_defaults(data_dir: Path) -> None:
    config = KioskConfig.load(data_dir)
    assert config == KioskConfig()
    assert config.survey == "post-visit" and config.idle_seconds is None and not config.enrolled
    assert config.check_pin(DEFAULT_PIN)
    assert not (data_dir / CONFIG_NAME).exists()  # loading never writes


def test_bad_json_gives_line_and_column(data_dir: Path) -> None:
    path = write(data_dir, '{\n  "clinic_name": "North",\n  "survey": fft\n}')
    assert problems(data_dir) == [f"{path}: line 3, column 13: not valid JSON: Expecting value"]


def test_top_level_must_be_an_object(data_dir: Path) -> None:
    path = write(data_dir, "[]")
    assert problems(data_dir) == [f"{path}: (top level): must be an object"]


def test_unreadable_file_is_reported(data_dir: Path) -> None:
    path = data_dir / CONFIG_NAME
    path.write_bytes(b'{"clinic_name": "\xff"}')
    [line] = problems(data_dir)
    assert line.startswith(f"{path}: (file): cannot read:")


def test_unknown_key_and_wrong_types_name_the_field(data_dir: Path) -> None:
    path = write(
        data_dir,
        json.dumps(
            {
                "clinic_name": "North",
                "colour": "blue",
                "idle_seconds": "45",
                "large_text": 1,
                "retention_days": True,
                "survey": None,
                "too_fast_seconds": 2,
            }
        ),
    )
    lines = problems(data_dir)
    assert lines[0].startswith(f"{path}: colour: not a known setting (known: clinic_name, logo, survey,")
    assert lines[1:] == [
        f'{path}: idle_seconds: must be a whole number, not "45"',
        f"{path}: large_text: must be true or false, not 1",
        f"{path}: retention_days: must be a whole number, not true",
        f"{path}: survey: must not be null",
    ]


def test_from_dict_says_config_json(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config\.json: token: must be a string, not 5$"):
        KioskConfig.from_dict({"token": 5})


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [
        ("idle_seconds", 0, "must be a positive number, not 0"),
        ("handoff_minutes", -1, "must be a positive number, not -1"),
        ("sync_interval_seconds", 0, "must be a positive number, not 0"),
        ("retention_days", 0, "must be a positive number, not 0"),
        ("too_fast_seconds", -0.5, "must be 0 or more, not -0.5"),
        ("pin_hash", "2468", "is not a PIN hash; remove it to go back to the default PIN"),
        ("pin_hash", "pbkdf2_sha256$0$00112233445566778899aabbccddeeff$" + "00" * 32, "is not a PIN hash"),
    ],
)
def test_values_out_of_range(key: str, value: object, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        KioskConfig.from_dict({key: value})
    assert str(caught.value).startswith(f"config.json: {key}: {what}")


def test_infinity_is_refused(data_dir: Path) -> None:
    path = write(data_dir, '{"too_fast_seconds": Infinity}')
    assert problems(data_dir) == [f"{path}: too_fast_seconds: must be 0 or more, not inf"]


def test_save_then_load_round_trips(data_dir: Path) -> None:
    config = KioskConfig(
        clinic_name="Clínica Norte", kiosk_id="front-desk-1", token="t" * 40, idle_seconds=60
    )
    config.server_url = "https://feedback.example.org"
    config.set_pin("13579")
    config.save(data_dir)
    loaded = KioskConfig.load(data_dir)
    assert loaded == config
    assert loaded.enrolled
    assert loaded.check_pin("13579") and not loaded.check_pin(DEFAULT_PIN)
    assert json.loads((data_dir / CONFIG_NAME).read_text(encoding="utf-8"))["clinic_name"] == "Clínica Norte"


def test_save_is_owner_only_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "data"
    path = folder / CONFIG_NAME
    KioskConfig().save(folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
    path.chmod(0o644)
    inode = path.stat().st_ino
    KioskConfig(clinic_name="Again").save(folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME]


def test_failed_save_keeps_the_old_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    KioskConfig(clinic_name="Old").save(data_dir)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        KioskConfig(clinic_name="New").save(data_dir)
    monkeypatch.undo()
    assert KioskConfig.load(data_dir).clinic_name == "Old"


SAVER = """
import sys
from pathlib import Path
from kiosk.config import KioskConfig
folder = Path(sys.argv[1])
configs = [KioskConfig(clinic_name=name * 20000) for name in "AB"]
n = 0
while True:
    configs[n % 2].save(folder)
    n += 1
    if n == 3:
        print("saving", flush=True)
"""


def test_sigkill_during_saves_never_leaves_a_broken_config(data_dir: Path) -> None:
    """A real process saving in a loop, killed at random moments: the file always loads whole."""
    for delay in (0.01, 0.05, 0.13):
        child = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(data_dir)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "saving"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        name = KioskConfig.load(data_dir).clinic_name
        assert name in ("A" * 20000, "B" * 20000)


def test_real_pin_hashes_are_slow_to_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    assert PIN_ITERATIONS >= 100_000
    stored = hash_pin("2468")
    assert stored.split("$")[:2] == ["pbkdf2_sha256", str(PIN_ITERATIONS)]
    assert pin_matches("2468", stored) and not pin_matches("8642", stored)


def test_pin_hash_is_salted_and_checked() -> None:
    one, two = hash_pin("2468"), hash_pin("2468")
    assert one != two and "2468" not in one
    assert pin_matches("2468", one) and pin_matches("2468", two)
    assert not pin_matches("2469", one)
    assert hash_pin("2468", salt=b"0123456789abcdef") == hash_pin("2468", salt=b"0123456789abcdef")
    for broken in ("", "2468", "pbkdf2_sha256$x$00$00", one.replace("pbkdf2_sha256", "md5"), "a$b$c$d$e"):
        assert not pin_matches("2468", broken)


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", "１２３４", "²³⁴⁵"])
def test_set_pin_wants_4_to_8_plain_digits(pin: str) -> None:
    config = KioskConfig()
    with pytest.raises(ConfigError, match="pin: must be 4 to 8 digits"):
        config.set_pin(pin)
    assert config.check_pin(DEFAULT_PIN)


def test_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path / "env"))
    assert data_dir_from(str(tmp_path / "arg")) == tmp_path / "arg"
    assert data_dir_from(None) == tmp_path / "env"
    monkeypatch.delenv("KIOSK_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert data_dir_from(None) == tmp_path / "xdg" / APP_NAME
    assert data_dir_from("~/kiosk") == Path.home() / "kiosk"
