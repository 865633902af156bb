"""Shared by the server and sync tests: databases, real servers, a faulty proxy, and records.

PostgreSQL runs on 127.0.0.1:5432, database `test`. Tests work in schemas of their own, named
after the process, so runs of several people or CI jobs on one database never meet.
The fixtures built on these helpers are in server_fixtures.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, text

from kiosk.record import iso, new_response_id, utc_now
from sync.server.app import create_app
from sync.server.auth import add_kiosk
from sync.server.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_schemas = itertools.count()
_pg_state: dict[str, str | None] = {}


def _pg_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None; asked once per session."""
    if "problem" not in _pg_state:
        try:
            engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["problem"] = None
        except Exception as e:
            _pg_state["problem"] = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {type(e).__name__}"
    return _pg_state["problem"]


def require_postgres() -> None:
    problem = _pg_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (CI is set, so the PostgreSQL tests must run)")
    pytest.skip(problem)


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, empty schema; yields a URL whose connections use it, and drops it afterwards."""
    require_postgres()
    name = f"t_{os.getpid()}_{next(_schemas)}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{PG_ADMIN_URL}?options={quote(f'-csearch_path={name}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


class ApiServer:
    """An app on a migrated database, with helpers to enroll kiosks and read what it stored."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.settings = Settings(database_url=url, **settings)
        self.app: FastAPI = create_app(self.settings)
        self.engine: Engine = self.app.state.engine

    def enroll(self, name: str = "desk-1", site: str | None = None) -> str:
        with self.engine.begin() as connection:
            return add_kiosk(connection, name, site)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def close(self) -> None:
        self.engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """A real uvicorn on loopback in a thread of the test process: quick to start and stop."""

    def __init__(self, app: FastAPI, port: int | None = None, **ssl: Any) -> None:
        self.port = port or free_port()
        self.url = f"{'https' if ssl else 'http'}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False, **ssl
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


class ServerProcess:
    """`python main.py server` as a real child process, which a test may SIGKILL and restart."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        database: str | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.options = options
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = database
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def command(self, *args: str) -> list[str]:
        extra = ["--database", self.database] if self.database else []
        return [
            sys.executable,
            str(REPO / "main.py"),
            "server",
            *args,
            "--data-dir",
            str(self.data_dir),
            *extra,
        ]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, cwd=REPO, timeout=60, check=False
        )

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command("--port", str(self.port), *self.options),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, exactly like a power cut of the server process."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


FAULTS = ("drop", "delay", "cut_after_commit", "502", "503", "429", "portal")
_CANNED = {
    "502": b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<h1>502</h1>",
    "503": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n\r\n",
    "429": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Type: application/json"
    b'\r\n\r\n{"detail": "slow down"}',
    "portal": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    b"<html><body><form action=/login>Accept the Wi-Fi terms</form></body></html>",
    "429-wait": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n\r\n",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: http://portal.invalid/login\r\n\r\n",
    "json-200": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok": true}',
}


class FaultProxy:
    """A TCP proxy on loopback that reads each HTTP request and then misbehaves as planned.

    Modes: "pass"; "drop" (reset before forwarding); "delay" (then pass); "cut_after_commit"
    (forward, read the server's whole answer, then reset the client's connection); "502", "503",
    "429" and "portal" (an HTML 200 from a Wi-Fi login page) answered without the server, as are
    "429-wait" (Retry-After: 7), "redirect" (302 to a login page) and "json-200" (JSON that is not
    a receipt). Every answer closes its connection, so each request gets a fresh plan.
    """

    def __init__(
        self, upstream_port: int, plan: Callable[[], str] = lambda: "pass", delay_s: float = 0.2
    ) -> None:
        self.upstream_port = upstream_port
        self.plan = plan
        self.delay_s = delay_s
        self.used: Counter[str] = Counter()
        self.cut_answers: list[bytes] = []
        self.passed: list[tuple[str, int]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # A client that gave up (its read timed out) is one of the faults under test, not the proxy's.
        with client, contextlib.suppress(OSError):
            request = _read_request(client)
            if request is None:
                return
            mode = self.plan()
            self.used[mode] += 1
            if mode == "drop":
                _reset(client)
                return
            if mode in _CANNED:
                client.sendall(_CANNED[mode])
                return
            if mode == "delay":
                time.sleep(self.delay_s)
            answer = self._forward(request)
            if answer is None:
                _reset(client)
            elif mode == "cut_after_commit":
                self.cut_answers.append(answer)
                _reset(client)
            else:
                request_line = request.split(b"\r\n", 1)[0].decode("latin-1")
                self.passed.append((request_line, int(answer.split(b" ", 2)[1])))
                client.sendall(answer)

    def _forward(self, request: bytes) -> bytes | None:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
        request = b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body
        try:
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up:
                up.sendall(request)
                chunks = []
                while chunk := up.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return None
        return b"".join(chunks) or None


def _read_request(sock: socket.socket) -> bytes | None:
    sock.settimeout(30)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(data) - len(head) - 4 < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    return data


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a crashed peer or a dropped Wi-Fi link looks to the client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def random_plan(seed: int, fault_share: float) -> Callable[[], str]:
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan() -> str:
        with lock:
            return rng.choice(FAULTS) if rng.random() < fault_share else "pass"

    return plan


def fft_record(kiosk_id: str | None = "desk-1", **changes: Any) -> dict[str, Any]:
    """A valid completed Friends and Family Test response; `changes` override its fields."""
    now = utc_now()
    record = {
        "id": new_response_id(),
        "survey_id": "fft",
        "survey_version": 1,
        "kiosk_id": kiosk_id,
        "channel": "kiosk",
        "language": "en",
        "started_at": iso(now),
        "submitted_at": iso(now),
        "status": "completed",
        "answers": {"overall": "very_good", "why": "Kind nurse"},
    }
    record.update(changes)
    return record


def post_visit_record(kiosk_id: str | None = "desk-1", n: int = 0, **changes: Any) -> dict[str, Any]:
    """A valid post-visit response whose answers vary with `n`."""
    answers: dict[str, Any] = {
        "overall": 1 + n % 5,
        "front_desk": ("definitely", "somewhat", "no")[n % 3],
        "wait": ("under_5", "5_to_15", "15_to_30", "over_30")[n % 4],
        "recommend": n % 11,
    }
    if answers["overall"] <= 3:
        answers["improve"] = f"Longer opening hours, please ({n}) \u00e9\u4e2d"
    return fft_record(kiosk_id, **{"survey_id": "post-visit", "answers": answers, **changes})


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command (skip without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def run_main(*args: str) -> int:
    """`python main.py ARGS` in this process: the same code path, without a second interpreter."""
    spec = importlib.util.spec_from_file_location("kiosk_main", REPO / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(args))
