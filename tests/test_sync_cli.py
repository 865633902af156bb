"""`python main.py enroll` and `python main.py sync`, as admins and cron run them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from server_helpers import REPO, ApiServer, ThreadServer, fft_record, free_port, run_main

from kiosk.config import KioskConfig
from kiosk.store import ResponseStore

TOKEN = "desk-1." + "A" * 43


def test_enroll_stores_url_token_and_kiosk_id(data_dir, capsys):
    assert run_main("enroll", f"https://feedback.example.org/#{TOKEN}", "--data-dir", str(data_dir)) == 0
    config = KioskConfig.load(data_dir)
    assert (config.server_url, config.token, config.kiosk_id) == (
        "https://feedback.example.org",
        TOKEN,
        "desk-1",
    )
    assert "enrolled as kiosk desk-1" in capsys.readouterr().out
    assert (data_dir / "config.json").stat().st_mode & 0o077 == 0


def test_enroll_server_overrides_the_url_and_plain_http_is_flagged(data_dir, capsys):
    assert (
        run_main(
            "enroll",
            f"https://old.example.org#{TOKEN}",
            "--server",
            "http://10.1.2.3:8000",
            "--data-dir",
            str(data_dir),
        )
        == 0
    )
    assert KioskConfig.load(data_dir).server_url == "http://10.1.2.3:8000"
    assert "not https" in capsys.readouterr().err
    assert run_main("enroll", f"http://127.0.0.1:8000#{TOKEN}", "--data-dir", str(data_dir)) == 0
    assert "not https" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://example.org",
        f"#{TOKEN}",
        f"ftp://example.org#{TOKEN}",
        "https://example.org#desk-1",
        "https://example.org#desk-1.short",
        f"https://example.org#bad name.{'A' * 43}",
    ],
)
def test_a_bad_enrollment_string_is_exit_2_with_a_message(data_dir, capsys, text):
    assert run_main("enroll", text, "--data-dir", str(data_dir)) == 2
    err = capsys.readouterr().err
    assert err.startswith("enroll: ")
    assert "Traceback" not in err
    assert not (data_dir / "config.json").exists()


def test_a_bad_server_override_is_exit_2(data_dir):
    assert (
        run_main(
            "enroll", f"https://a.example.org#{TOKEN}", "--server", "nowhere", "--data-dir", str(data_dir)
        )
        == 2
    )


def test_sync_exits_0_only_when_nothing_is_left_pending(tmp_path, data_dir, capsys):
    server = ApiServer(f"sqlite:///{tmp_path / 'server.db'}")
    token = server.enroll("desk-1")
    with ResponseStore(data_dir) as store:
        for _ in range(3):
            store.save(fft_record())
    assert run_main("sync", "--data-dir", str(data_dir)) == 1
    assert "not enrolled" in capsys.readouterr().err
    nobody = f"http://127.0.0.1:{free_port()}"
    assert run_main("enroll", f"{nobody}#{token}", "--data-dir", str(data_dir)) == 0
    assert run_main("sync", "--data-dir", str(data_dir)) == 1
    output = capsys.readouterr()
    assert "3 pending" in output.out
    assert "server unreachable" in output.err
    with ThreadServer(server.app) as live:
        assert run_main("enroll", f"{live.url}#{token}", "--data-dir", str(data_dir)) == 0
        assert run_main("sync", "--data-dir", str(data_dir)) == 0
        assert "sent 3: 3 stored, 0 quarantined; 0 pending" in capsys.readouterr().out
        assert run_main("sync", "--data-dir", str(data_dir)) == 0
    assert len(server.rows("SELECT id FROM responses")) == 3
    server.close()


def test_sync_as_a_real_process(tmp_path, data_dir):
    """The command line as cron runs it: a new interpreter, a summary line, an exit code."""
    config = KioskConfig(kiosk_id="desk-1", token=TOKEN, server_url=f"http://127.0.0.1:{free_port()}")
    config.save(data_dir)
    with ResponseStore(data_dir) as store:
        store.save(fft_record())
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "sync", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.strip() == "sent 0: 0 stored, 0 quarantined; 1 pending"
    assert "Traceback" not in done.stderr
    assert json.loads((data_dir / "config.json").read_text())["token"] == TOKEN
