"""TinyDB storages for files that must survive a pulled plug.

TinyDB's own `JSONStorage` rewrites its file in place, so a crash mid-write leaves a file that no
longer opens. Here every write goes to a temporary file in the same folder, is fsynced, replaces the
old file in one `os.replace`, and the folder is fsynced so the new name is durable too. A crash at
any instant leaves the old file or the new one.

`ChunkStorage` also puts a one-line header before the TinyDB JSON: a checksum of the body and a
small index of its documents. Opening a store then reads the headers only, and a damaged file
(truncated, garbage, a bad sector) is recognised instead of being half-read.
"""

from __future__ import annotations

import json
import os
import secrets
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

FILE_MODE = 0o600
TMP_SUFFIX = ".tmp"
FORMAT_VERSION = 1

Summarize = Callable[[dict[str, Any]], list[Any]]


class CorruptFile(Exception):
    """A file whose bytes are not what this module wrote; the caller sets it aside."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable: the name lives in the folder's own data."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """Left-overs of writes cut short; never the only copy of anything, so safe to delete."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


class ChunkStorage(Storage):
    """One partition file: a checked header line, then the TinyDB data as JSON.

    The parsed data is cached, because this process is the file's only writer (the store holds a
    lock), and dropped with `forget()` so that old partitions cost no memory until they are read.
    """

    def __init__(self, path: str | os.PathLike[str], summarize: Summarize) -> None:
        super().__init__()
        self.path = Path(path)
        self._summarize = summarize
        self._data: dict[str, Any] | None = None

    def read(self) -> dict[str, Any] | None:
        if self._data is None:
            loaded = self._load()
            if loaded is None:
                return None
            header, body = loaded
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise CorruptFile(self.path, f"body is not JSON ({exc})") from exc
            if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
                raise CorruptFile(self.path, "body is not a TinyDB database")
            self._data = data
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        # TinyDB has already changed the dict read() returned; if the write fails, the cache no
        # longer matches the disk, so drop it and let the next read see what is really stored.
        self._data = None
        body = json.dumps(data, separators=(",", ":")).encode()
        header = {"v": FORMAT_VERSION, "crc32": zlib.crc32(body), "docs": self._summarize(data)}
        write_atomic(self.path, json.dumps(header, separators=(",", ":")).encode() + b"\n" + body)
        self._data = data

    def close(self) -> None:
        self._data = None

    def forget(self) -> None:
        """Free the cached data; the next read() loads the file again."""
        self._data = None

    @property
    def cached(self) -> bool:
        return self._data is not None

    def index(self) -> list[Any] | None:
        """The header's document index, checked against the body, without parsing the body."""
        loaded = self._load()
        return None if loaded is None else loaded[0]["docs"]

    def _load(self) -> tuple[dict[str, Any], bytes] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        head, newline, body = raw.partition(b"\n")
        if not newline:
            raise CorruptFile(self.path, "no header line (truncated or not written by the store)")
        try:
            header = json.loads(head)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFile(self.path, f"header is not JSON ({exc})") from exc
        if (
            not isinstance(header, dict)
            or header.get("v") != FORMAT_VERSION
            or not isinstance(header.get("crc32"), int)
            or not isinstance(header.get("docs"), list)
        ):
            raise CorruptFile(self.path, "header is not a store header")
        if zlib.crc32(body) != header["crc32"]:
            raise CorruptFile(self.path, "checksum mismatch (truncated or damaged)")
        return header, body
