"""`python main.py server ...`: enrollment strings, revocation, publishing, and start-up."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from server_helpers import ServerProcess, fft_record, postgres_schema, run_main
from sqlalchemy import create_engine, text

from kiosk.credentials import derive_handoff_key
from kiosk.survey import builtin_survey
from sync.protocol import parse_enrollment
from sync.server.auth import add_kiosk
from sync.server.db import make_engine, prepare_database
from sync.server.models import Base


def server_db(data_dir: Path) -> Path:
    return data_dir / "server" / "server.db"


def test_add_kiosk_prints_the_enrollment_string_last_and_keeps_only_hashes(tmp_path, capsys):
    assert (
        run_main(
            "server",
            "add-kiosk",
            "front-desk-1",
            "--site",
            "north",
            "--url",
            "https://feedback.example.org/",
            "--data-dir",
            str(tmp_path),
        )
        == 0
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    enrollment = parse_enrollment(last)
    assert last == f"https://feedback.example.org#{enrollment.token}"
    assert enrollment.kiosk_id == "front-desk-1"
    engine = create_engine(f"sqlite:///{server_db(tmp_path)}")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM kiosks")).one()
    engine.dispose()
    assert (row.id, row.site, row.revoked_at) == ("front-desk-1", "north", None)
    assert row.token_hash == hashlib.sha256(enrollment.token.encode()).hexdigest()
    assert row.handoff_key == derive_handoff_key(enrollment.token).hex()
    secret = enrollment.token.split(".", 1)[1].encode()
    for path in server_db(tmp_path).parent.iterdir():
        assert secret not in path.read_bytes(), path


def test_kiosk_names_revocation_and_exit_codes(tmp_path, capsys):
    where = ("--data-dir", str(tmp_path))
    assert run_main("server", "add-kiosk", "desk-1", *where) == 0
    assert run_main("server", "add-kiosk", "desk-1", *where) == 1
    assert "already enrolled" in capsys.readouterr().err
    assert run_main("server", "add-kiosk", "desk 2", *where) == 2
    assert run_main("server", "add-kiosk", "desk.2", *where) == 2
    assert run_main("server", "add-kiosk", "desk-2", "--url", "ftp://x", *where) == 2
    assert run_main("server", "add-kiosk", "desk-2", "--site", "a/b", *where) == 2
    assert run_main("server", "revoke-kiosk", "ghost", *where) == 1
    assert "no kiosk named 'ghost'" in capsys.readouterr().err
    assert run_main("server", "revoke-kiosk", "desk-1", *where) == 0
    assert run_main("server", "revoke-kiosk", "desk-1", *where) == 1
    assert "already revoked" in capsys.readouterr().err
    capsys.readouterr()
    assert run_main("server", "--data-dir", str(tmp_path), "add-kiosk", "desk-1") == 0
    assert parse_enrollment(capsys.readouterr().out.splitlines()[-1]).kiosk_id == "desk-1"


def test_publish_survey_checks_the_file_and_the_version(tmp_path, capsys):
    where = ("--data-dir", str(tmp_path))
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x", "version": 0}')
    assert run_main("server", "publish-survey", str(broken), *where) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and all(line.startswith(f"{broken}: ") for line in lines)
    same = tmp_path / "fft.json"
    raw = dict(builtin_survey("fft").raw)
    same.write_text(json.dumps(raw))
    assert run_main("server", "publish-survey", str(same), *where) == 2
    assert "must be higher than v1" in capsys.readouterr().err
    newer = tmp_path / "fft2.json"
    newer.write_text(json.dumps({**raw, "version": 2}))
    assert run_main("server", "publish-survey", str(newer), "--site", "north", *where) == 0
    assert capsys.readouterr().out.strip() == "published fft v2 for site north"


def test_bad_database_urls_are_clear_errors(tmp_path, capsys):
    assert run_main("server", "add-kiosk", "a", "--database", "nonsense://") == 2
    assert "--database" in capsys.readouterr().err
    closed = "postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2"
    assert run_main("server", "add-kiosk", "a", "--database", closed) == 1
    assert "cannot open the database" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models_and_may_run_concurrently(backend, tmp_path):
    def check(url: str) -> None:
        engines = [make_engine(url) for _ in range(3)]
        errors: list[BaseException] = []

        def migrate(engine):
            try:
                prepare_database(engine)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with engines[0].connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            published = connection.execute(text("SELECT count(*) FROM publications")).scalar_one()
        assert published == 2
        for engine in engines:
            engine.dispose()

    if backend == "sqlite":
        check(f"sqlite:///{tmp_path / 'fresh.db'}")
    else:
        with postgres_schema() as url:
            check(url)


def test_several_workers_share_one_postgresql(tmp_path):
    with postgres_schema() as url:
        engine = make_engine(url)
        prepare_database(engine)
        with engine.begin() as connection:
            token = add_kiosk(connection, "desk-1", None)
        server = ServerProcess(tmp_path, database=url, options=("--workers", "2"))
        server.start()
        try:
            records = [fft_record() for _ in range(40)]
            results: list[list[str]] = []

            def send(batch):
                answer = requests.post(
                    f"{server.url}/api/v1/responses",
                    json={"responses": batch},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=20,
                )
                results.append([r["status"] for r in answer.json()["receipts"]])

            threads = [threading.Thread(target=send, args=(records[i::2] + records,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.stop()
        statuses = [s for result in results for s in result]
        assert statuses.count("created") == 40
        assert statuses.count("duplicate") == len(statuses) - 40
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM responses")).scalar_one() == 40
        engine.dispose()
