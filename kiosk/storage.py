"""TinyDB storages for files that must survive a pulled plug.

TinyDB's own `JSONStorage` rewrites its file in place, so a crash mid-write leaves a file that no
longer opens. Here every write goes to a temporary file in the same folder, is fsynced, replaces the
old file in one `os.replace`, and the folder is fsynced so the new name is durable too. A crash at
any instant leaves the old file or the new one.

`ChunkStorage` also puts checksums and a small index of its documents before the TinyDB JSON.
Opening a store then reads the indexes only, and a damaged file (truncated, garbage, a bad
sector) is recognised by its checksums and length instead of being half-read.
"""

from __future__ import annotations

import contextlib
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
MAGIC = b"kiosk-store"
FORMAT_VERSION = b"1"
INDEX_READ = 8192

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
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class ChunkStorage(Storage):
    """One partition file, in three lines, so that a short header can vouch for the rest:

        kiosk-store 1 <crc32 of the index> <crc32 of the data> <length of the data>
        <index: a JSON object made by `summarize`, small: no answers in it>
        <the TinyDB data as JSON>

    Opening a store reads only the first two lines of each file and checks the index and the
    file's length (a truncated file is caught there); the data's checksum is checked when the
    data is read. The parsed data is cached, because this process is the file's only writer (the
    store holds a lock), and dropped with `forget()` so that old partitions cost no memory.
    """

    def __init__(self, path: str | os.PathLike[str], summarize: Summarize) -> None:
        super().__init__()
        self.path = Path(path)
        self._summarize = summarize
        self._data: dict[str, Any] | None = None

    def read(self) -> dict[str, Any] | None:
        if self._data is None:
            raw = read_data(self.path)
            if raw is None:
                return None
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise CorruptFile(self.path, f"data is not JSON ({exc})") from exc
            if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
                raise CorruptFile(self.path, "data is not a TinyDB database")
            self._data = data
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        # TinyDB has already changed the dict read() returned; if the write fails, the cache no
        # longer matches the disk, so drop it and let the next read see what is really stored.
        self._data = None
        index = json.dumps(self._summarize(data), separators=(",", ":")).encode()
        body = json.dumps(data, separators=(",", ":")).encode()
        header = b"%s %s %08x %08x %d\n" % (
            MAGIC,
            FORMAT_VERSION,
            zlib.crc32(index),
            zlib.crc32(body),
            len(body),
        )
        write_atomic(self.path, b"%s%s\n%s" % (header, index, body))
        self._data = data

    def close(self) -> None:
        self._data = None

    def forget(self) -> None:
        """Free the cached data; the next read() loads the file again."""
        self._data = None


def read_index(path: str | os.PathLike[str]) -> Any:
    """A partition's index, checked, reading only the start of the file; None if it is missing."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:  # plain os calls: this runs for every file at open, and buffered files cost more
        size = os.fstat(fd).st_size
        head = os.read(fd, INDEX_READ)
        while head.find(b"\n", head.find(b"\n") + 1) < 0 and (more := os.read(fd, INDEX_READ)):
            head += more
    finally:
        os.close(fd)
    first, _, rest = head.partition(b"\n")
    index_crc, _, data_length = _header(first, path)
    index, newline, _ = rest.partition(b"\n")
    if not newline or zlib.crc32(index) != index_crc:
        raise CorruptFile(path, "index checksum mismatch (truncated or damaged)")
    if size != len(first) + len(index) + 2 + data_length:
        raise CorruptFile(path, f"{size} bytes where the header says otherwise (truncated?)")
    try:
        parsed = json.loads(index)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFile(path, f"index is not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise CorruptFile(path, "index is not an object")
    return parsed


def read_data(path: Path) -> bytes | None:
    """A partition's data line, checked against the header; None if the file is missing."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    first, _, rest = raw.partition(b"\n")
    _, data_crc, data_length = _header(first, path)
    _, newline, data = rest.partition(b"\n")
    if not newline or len(data) != data_length or zlib.crc32(data) != data_crc:
        raise CorruptFile(path, "data checksum mismatch (truncated or damaged)")
    return data


def _header(first: bytes, path: Path) -> tuple[int, int, int]:
    fields = first.split(b" ")
    if len(fields) != 5 or fields[:2] != [MAGIC, FORMAT_VERSION]:
        raise CorruptFile(path, "no store header (truncated, emptied or not a store file)")
    try:
        return int(fields[2], 16), int(fields[3], 16), int(fields[4])
    except ValueError as exc:
        raise CorruptFile(path, "store header is damaged") from exc
