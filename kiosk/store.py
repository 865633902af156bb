"""The response store: TinyDB on disk that keeps every answer through pulled plugs and full disks.

"Thank you" appears only after `save()` returns, so `save()` returns only once the answer is
fsynced. The answers live in small partition files of at most `records_per_file` responses, in the
order they were saved. A save rewrites only the newest partition and `mark_synced` only the
partitions holding the acknowledged responses, so the cost of a write stays the same after years
of answers. Each file is replaced atomically (see `kiosk.storage`). Opening reads only the files'
checked indexes, never the answers, so a store of 100,000 answers opens in about 0.4 s of CPU.
docs/store.md has the layout, the guarantees and the measurements.

Each TinyDB document wraps one response: {"record": <the response exactly as given>,
"saved_at": <epoch seconds>, "synced_at": <epoch seconds or null>, "quarantine": <reason or null>}.
The response itself is never changed, so a resend is byte-identical to the first send.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import compress, islice, repeat
from pathlib import Path
from typing import Any, NoReturn, cast

from tinydb import TinyDB
from tinydb.table import Table

from kiosk.storage import ChunkStorage, CorruptFile, fsync_dir, is_temp_name, read_index

log = logging.getLogger(__name__)

FOLDER = "responses"
TABLE = "responses"
FOLDER_MODE = 0o700
PART_NAME = "part-{:06d}.json"
PART_RE = re.compile(r"^part-(\d+)\.json$")
CORRUPT_MARK = ".corrupt-"
CORRUPT_RE = re.compile(r"^part-(\d+)\.json\.corrupt-")
DEFAULT_RETENTION_DAYS = 90
DEFAULT_RECORDS_PER_FILE = 50
CACHED_FILES = 8
PURGE_INTERVAL = 3600.0

PENDING, SYNCED, QUARANTINED, GONE = 0, 1, 2, -1
COLUMNS = ("doc_ids", "ids", "saved_at", "states")


class StoreError(Exception):
    """The store could not do what was asked; the message says which file, doing what, and why."""


class InvalidRecord(StoreError, ValueError):
    """A response the store refuses: no string id, or not plain JSON data."""


class ConflictingRecord(StoreError):
    """A second save of an id already stored, with different content: nothing is overwritten."""


@dataclass
class _Part:
    """One partition file and what the index knows of it, in the header's columns.

    Positions in the columns never move; a removed response's state becomes GONE. The columns
    come straight from the file's header, so opening builds no per-response objects of its own.
    Its TinyDB is made on first use.
    """

    seq: int
    path: str
    ids: list[str] = field(default_factory=list)
    doc_ids: list[int] = field(default_factory=list)
    saved_at: list[float] = field(default_factory=list)
    states: list[int] = field(default_factory=list)
    where: dict[str, int] = field(default_factory=dict)  # response id -> position, live only
    first_at: float = math.inf  # bounds of saved_at, kept loose on removal
    last_at: float = -math.inf
    _db: TinyDB | None = None

    @property
    def size(self) -> int:
        return len(self.where)

    @property
    def db(self) -> TinyDB:
        if self._db is None:
            self._db = TinyDB(self.path, storage=ChunkStorage, summarize=summarize_documents)
        return self._db

    @property
    def table(self) -> Table:
        return self.db.table(TABLE, cache_size=0)

    @property
    def storage(self) -> ChunkStorage:
        return cast(ChunkStorage, self.db.storage)

    def state(self, rid: str) -> int:
        return self.states[self.where[rid]]

    def doc_id(self, rid: str) -> int:
        return self.doc_ids[self.where[rid]]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class ResponseStore:
    """Durable, crash-safe storage of responses, with the outbox of those not yet acknowledged.

    One lock guards all state, so the UI thread's `save()` and the sync thread's `mark_synced()`
    can run at the same time; work that spans files (receipts, purge) takes it per file, so a
    save never waits for more than one file write. An exclusive lock on the folder keeps a second
    process (or a second store object) from writing the same files.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        retention_days: float = DEFAULT_RETENTION_DAYS,
        *,
        records_per_file: int = DEFAULT_RECORDS_PER_FILE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(retention_days, bool) or not retention_days >= 0:
            raise ValueError(f"retention_days: must be a number of days >= 0, not {retention_days!r}")
        if isinstance(records_per_file, bool) or not records_per_file >= 1:
            raise ValueError(f"records_per_file: must be >= 1, not {records_per_file!r}")
        self.folder = Path(data_dir) / FOLDER
        self.retention_days = retention_days
        self.records_per_file = records_per_file
        self._clock = clock
        self._lock = threading.RLock()
        self._parts: dict[int, _Part] = {}
        self._index: dict[str, int] = {}  # response id -> the seq of its file
        self._pending: dict[str, None] = {}
        self._quarantined = 0
        self._cached: OrderedDict[int, None] = OrderedDict()
        self._tail: int | None = None
        self._next_seq = 1
        self._corrupt: list[str] = []
        self._problems: list[str] = []
        self._last_error: str | None = None
        self._last_purge = -math.inf
        self._folder_fd: int | None = self._open_folder()
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        # A failed purge is in status()["last_error"]; a read-only disk must still open.
        with contextlib.suppress(StoreError):
            self.purge()

    # -- the contract ------------------------------------------------------------------------

    def save(self, record: dict[str, Any]) -> None:
        """Store one response durably; a repeat of the same response is harmless."""
        rid, copy = _checked(record)
        with self._lock:
            self._ensure_open()
            if rid in self._index:
                stored = self._record(rid)
                if stored is not None:
                    if _same(stored, copy):
                        self._sync_folder("save")
                        return
                    raise ConflictingRecord(
                        f"response {rid}: save: already stored with different content; "
                        "nothing was overwritten"
                    )
            part = self._tail_part()
            if self._docs(part.seq) is None:
                part = self._tail_part()  # the newest file was found damaged and set aside
            now = self._clock()
            doc = {"record": copy, "saved_at": now, "synced_at": None, "quarantine": None}
            try:
                doc_id = part.table.insert(doc)
            except OSError as exc:
                self._failed(part, "save", exc, "this response was NOT saved")
            self._add(rid, part.seq, doc_id, now, PENDING)
            self._last_error = None

    def get(self, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._ensure_open()
            stored = self._record(record_id)
            return None if stored is None else _copy(stored)

    def count(self) -> int:
        with self._lock:
            return len(self._index)

    def pending(self, limit: int = 500) -> list[dict[str, Any]]:
        """Saved but not yet acknowledged, oldest first; quarantined responses are not resent."""
        with self._lock:
            self._ensure_open()
            while True:
                ids = list(islice(self._pending, max(limit, 0)))
                records = [self._record(rid) for rid in ids]
                if all(r is not None for r in records):
                    return [_copy(r) for r in records if r is not None]

    def mark_synced(self, ids: Iterable[str]) -> int:
        """Record "created" or "duplicate" receipts; returns how many responses changed state."""
        now = self._clock()
        marked = self._change(
            ids, "mark synced", lambda doc: _set_synced(doc, now), SYNCED, (PENDING, QUARANTINED)
        )
        with self._lock:
            due = now - self._last_purge >= PURGE_INTERVAL
            if due:
                self._last_purge = now
        if due:
            # The receipts are recorded; a failed purge is in status()["last_error"].
            with contextlib.suppress(StoreError):
                self.purge(now)
        return marked

    def close(self) -> None:
        with self._lock:
            for part in self._parts.values():
                part.close()
            self._parts.clear()
            self._cached.clear()
            if self._folder_fd is not None:
                os.close(self._folder_fd)
                self._folder_fd = None

    # -- beyond the contract ---------------------------------------------------------------

    def quarantine(self, ids_with_reasons: Mapping[str, str]) -> int:
        """Set aside responses the server refused ("conflict", "rejected"): kept, never resent."""
        reasons = {rid: str(reason) or "refused" for rid, reason in ids_with_reasons.items()}

        def set_reason(doc: dict[str, Any]) -> None:
            doc["quarantine"] = reasons[doc["record"]["id"]]

        return self._change(reasons, "quarantine", set_reason, QUARANTINED, (PENDING, QUARANTINED))

    def quarantined(self) -> list[tuple[dict[str, Any], str]]:
        """Refused responses with the server's reason, oldest first, for staff to look into."""
        with self._lock:
            self._ensure_open()
            out = []
            for seq in sorted(self._parts):
                part = self._parts[seq]
                found = [rid for rid, i in part.where.items() if part.states[i] == QUARANTINED]
                docs = self._docs(seq) if found else None
                if docs is None:
                    continue
                for rid in found:
                    doc = docs[str(part.doc_id(rid))]
                    out.append((_copy(doc["record"]), doc["quarantine"]))
            return out

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def count_since(self, moment: datetime) -> int:
        """Responses saved at or after `moment` ("responses today"); naive times are UTC."""
        since = _timestamp(moment)
        with self._lock:
            total = 0
            for part in self._parts.values():
                if part.first_at >= since:
                    total += part.size
                elif part.last_at >= since:
                    total += sum(1 for i in part.where.values() if part.saved_at[i] >= since)
            return total

    def iter_records(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        survey_id: str | None = None,
        status: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every stored response, oldest first, one partition in memory at a time (exports).

        `since`/`until` bound the time the kiosk saved the response (since <= saved < until);
        `status` is the response's own status (completed, partial, handed_off).
        """
        low = -math.inf if since is None else _timestamp(since)
        high = math.inf if until is None else _timestamp(until)
        with self._lock:
            self._ensure_open()
            seqs = sorted(self._parts)
        for seq in seqs:
            with self._lock:
                self._ensure_open()
                part = self._parts.get(seq)
                if part is None or part.size == 0 or part.last_at < low or part.first_at >= high:
                    continue
                docs = self._docs(seq) or {}
                batch = []
                for doc_id, doc in sorted(docs.items(), key=lambda item: int(item[0])):
                    record = doc["record"]
                    if (
                        self._index.get(record["id"]) == seq
                        and part.doc_id(record["id"]) == int(doc_id)  # not a stray twin
                        and low <= doc["saved_at"] < high
                        and (survey_id is None or record.get("survey_id") == survey_id)
                        and (status is None or record.get("status") == status)
                    ):
                        batch.append(_copy(record))
            yield from batch

    def purge(self, now: float | None = None) -> int:
        """Drop synced responses older than the retention; unsynced and quarantined ones stay."""
        with self._lock:
            self._ensure_open()
            now = self._clock() if now is None else now
            cutoff = now - self.retention_days * 86400
            by_part: dict[int, list[str]] = {}
            for seq, part in self._parts.items():
                if part.first_at < cutoff:
                    states, saved_at = part.states, part.saved_at
                    expired = [
                        rid for rid, i in part.where.items() if states[i] == SYNCED and saved_at[i] < cutoff
                    ]
                    if expired:
                        by_part[seq] = expired
        removed = 0
        for seq, group in sorted(by_part.items()):
            with self._lock:  # taken per file, so that a save waits for one file at most
                self._ensure_open()
                part = self._parts.get(seq)
                rids = [rid for rid in group if self._is(rid, seq, (SYNCED,))]
                if part is None or not rids:
                    continue
                if len(rids) >= part.size:
                    self._delete_part(part)
                else:
                    self._docs(seq)
                    try:
                        part.table.remove(doc_ids=[part.doc_id(rid) for rid in rids])
                    except OSError as exc:
                        self._failed(part, "purge", exc, "nothing was lost")
                    for rid in rids:
                        self._drop(rid)
                removed += len(rids)
        with self._lock:
            self._last_purge = now
        return removed

    def status(self) -> dict[str, Any]:
        """What staff and the admin screen need to see: counts, and every fault still present."""
        with self._lock:
            oldest = next(iter(self._pending), None)
            return {
                "folder": str(self.folder),
                "count": len(self._index),
                "pending": len(self._pending),
                "quarantined": self._quarantined,
                "synced": len(self._index) - len(self._pending) - self._quarantined,
                "files": len(self._parts),
                "oldest_pending_at": None if oldest is None else _iso(self._saved_at(oldest)),
                "corrupt_files": list(self._corrupt),
                "problems": list(self._problems),
                "last_error": self._last_error,
            }

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- opening -----------------------------------------------------------------------------

    def _open_folder(self) -> int:
        folder = self.folder
        try:
            folder.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            if not folder.is_dir():
                folder.mkdir(mode=FOLDER_MODE)
                fsync_dir(folder.parent)
            if folder.stat().st_mode & 0o777 != FOLDER_MODE:
                try:
                    os.chmod(folder, FOLDER_MODE)
                except OSError as exc:
                    log.warning("%s: could not make the folder private: %s", folder, exc)
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreError(f"{folder}: open: {_reason(exc)}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StoreError(
                f"{folder}: open: the store is already open in another process or object"
            ) from exc
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"{folder}: open: cannot lock the folder: {_reason(exc)}") from exc
        return fd

    def _load(self) -> None:
        try:
            names = sorted(os.listdir(self.folder))
        except OSError as exc:
            raise StoreError(f"{self.folder}: open: {_reason(exc)}") from exc
        seqs = []
        for name in names:
            if is_temp_name(name):
                try:
                    os.unlink(self.folder / name)
                except OSError as exc:
                    log.warning("%s: could not remove a left-over temporary file: %s", name, exc)
            elif match := CORRUPT_RE.match(name):
                self._corrupt.append(str(self.folder / name))
                self._next_seq = max(self._next_seq, int(match.group(1)) + 1)
            elif match := PART_RE.match(name):
                seqs.append(int(match.group(1)))
        if self._corrupt:
            self._problems.append(f"{len(self._corrupt)} damaged file(s) set aside earlier")
        for seq in sorted(seqs):
            part = self._new_part(seq)
            try:
                columns = read_index(part.path)
                if columns is not None:
                    self._load_part(part, columns)
            except CorruptFile as exc:
                self._set_aside(part, exc.what)
            except OSError as exc:
                # Not damaged, just unreadable now (a failing disk): leave it in place, say so,
                # and keep taking answers in new files.
                self._last_error = f"{part.path}: open: {_reason(exc)}; its responses are missing"
                self._problems.append(self._last_error)
                log.error("%s", self._last_error)

    def _load_part(self, part: _Part, columns: Any) -> None:
        """Index a partition from its header; C-level loops, as this runs for every response."""
        index = self._index
        try:
            doc_ids, ids, saved_at, states = (columns[name] for name in COLUMNS)
            if not len(doc_ids) == len(ids) == len(saved_at) == len(states):
                raise ValueError("columns differ in length")
            where = dict(zip(ids, range(len(ids)), strict=True))
            clean = len(where) == len(ids) and index.keys().isdisjoint(ids)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFile(Path(part.path), f"index is malformed ({exc})") from exc
        self._parts[part.seq] = part
        self._tail = part.seq
        if not clean:
            self._problems.append(
                f"{os.path.basename(part.path)}: a response is stored twice; the first copy is used"
            )
            for doc_id, rid, at, state in _rows(columns, part.path):
                if rid not in index:
                    self._add(rid, part.seq, doc_id, at, state)
            return
        part.ids, part.doc_ids, part.saved_at, part.states, part.where = (
            ids,
            doc_ids,
            saved_at,
            states,
            where,
        )
        index.update(zip(ids, repeat(part.seq)))
        self._pending.update(dict.fromkeys(compress(ids, map(PENDING.__eq__, states))))
        self._quarantined += states.count(QUARANTINED)
        if ids:
            part.first_at = min(saved_at)
            part.last_at = max(saved_at)

    def _new_part(self, seq: int) -> _Part:
        self._next_seq = max(self._next_seq, seq + 1)
        return _Part(seq, os.path.join(self.folder, PART_NAME.format(seq)))

    # -- the index ---------------------------------------------------------------------------

    def _add(self, rid: str, seq: int, doc_id: int, saved_at: float, state: int) -> None:
        part = self._parts[seq]
        part.where[rid] = len(part.ids)
        part.ids.append(rid)
        part.doc_ids.append(doc_id)
        part.saved_at.append(saved_at)
        part.states.append(state)
        part.first_at = min(part.first_at, saved_at)
        part.last_at = max(part.last_at, saved_at)
        self._index[rid] = seq
        if state == PENDING:
            self._pending[rid] = None
        elif state == QUARANTINED:
            self._quarantined += 1

    def _drop(self, rid: str) -> None:
        part = self._part_of(rid)
        del self._index[rid]
        position = part.where.pop(rid)
        if part.states[position] == QUARANTINED:
            self._quarantined -= 1
        part.states[position] = GONE
        self._pending.pop(rid, None)

    def _set_state(self, rid: str, state: int) -> None:
        part = self._part_of(rid)
        position = part.where[rid]
        self._quarantined += (state == QUARANTINED) - (part.states[position] == QUARANTINED)
        part.states[position] = state
        self._pending.pop(rid, None)

    def _part_of(self, rid: str) -> _Part:
        return self._parts[self._index[rid]]

    def _saved_at(self, rid: str) -> float:
        part = self._part_of(rid)
        return part.saved_at[part.where[rid]]

    def _state(self, rid: str) -> int | None:
        seq = self._index.get(rid)
        return None if seq is None else self._parts[seq].state(rid)

    def _is(self, rid: str, seq: int, states: tuple[int, ...]) -> bool:
        """Still in file `seq` and in one of `states`, after the lock was let go a moment."""
        return self._index.get(rid) == seq and self._parts[seq].state(rid) in states

    # -- files -------------------------------------------------------------------------------

    def _docs(self, seq: int) -> dict[str, Any] | None:
        """A partition's documents by doc id, loading it if needed; None if it was set aside."""
        part = self._parts.get(seq)
        if part is None:
            return None
        try:
            data = part.storage.read()
        except CorruptFile as exc:
            self._set_aside(part, exc.what)
            return None
        except OSError as exc:
            raise StoreError(f"{part.path}: read: {_reason(exc)}") from exc
        self._cached[seq] = None
        self._cached.move_to_end(seq)
        while len(self._cached) > CACHED_FILES:
            old, _ = self._cached.popitem(last=False)
            if old in self._parts and old != self._tail:
                self._parts[old].storage.forget()
        return (data or {}).get(TABLE, {})

    def _record(self, rid: str) -> dict[str, Any] | None:
        seq = self._index.get(rid)
        if seq is None:
            return None
        doc_id = self._parts[seq].doc_id(rid)
        docs = self._docs(seq)
        doc = None if docs is None else docs.get(str(doc_id))
        return None if doc is None else doc["record"]

    def _tail_part(self) -> _Part:
        part = None if self._tail is None else self._parts.get(self._tail)
        if part is None or part.size >= self.records_per_file:
            part = self._new_part(self._next_seq)
            self._parts[part.seq] = part
            self._tail = part.seq
        return part

    def _change(
        self,
        rids: Iterable[str],
        action: str,
        update: Callable[[dict[str, Any]], None],
        state: int,
        allowed: tuple[int, ...],
    ) -> int:
        """Apply `update` to the documents of `rids` in one of the `allowed` states, one write per
        file. The lock is taken per file, so that a save from the UI waits for one file at most."""
        with self._lock:
            self._ensure_open()
            by_part: dict[int, list[str]] = {}
            for rid in dict.fromkeys(rids):
                if self._state(rid) in allowed:
                    by_part.setdefault(self._index[rid], []).append(rid)
        changed = 0
        for seq, group in sorted(by_part.items()):
            with self._lock:
                self._ensure_open()
                # Another thread may have changed some while the lock was free.
                group = [rid for rid in group if self._is(rid, seq, allowed)]
                if not group or self._docs(seq) is None:
                    continue
                part = self._parts[seq]
                try:
                    part.table.update(update, doc_ids=[part.doc_id(rid) for rid in group])
                except OSError as exc:
                    self._failed(part, action, exc, "it will be retried")
                for rid in group:
                    self._set_state(rid, state)
                changed += len(group)
                self._last_error = None
        return changed

    def _delete_part(self, part: _Part) -> None:
        try:
            os.unlink(part.path)
            fsync_dir(self.folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._failed(part, "purge", exc, "nothing was lost")
        for rid in list(part.where):
            self._drop(rid)
        self._forget_part(part)

    def _forget_part(self, part: _Part) -> None:
        part.close()
        self._parts.pop(part.seq, None)
        self._cached.pop(part.seq, None)
        if self._tail == part.seq:
            self._tail = None

    def _set_aside(self, part: _Part, what: str) -> None:
        """Keep a damaged file for a human to look at, out of the way of new writes."""
        name = os.path.basename(part.path)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        target = f"{part.path}{CORRUPT_MARK}{stamp}"
        n = 1
        while os.path.exists(target):
            target = f"{part.path}{CORRUPT_MARK}{stamp}-{n}"
            n += 1
        try:
            os.rename(part.path, target)
            fsync_dir(self.folder)
        except OSError as exc:
            target = part.path
            self._problems.append(f"{name}: could not be set aside: {_reason(exc)}")
        for rid in list(part.where):
            self._drop(rid)
        self._forget_part(part)
        self._corrupt.append(target)
        self._problems.append(f"{name}: {what}; set aside as {os.path.basename(target)}")
        log.error("%s: damaged (%s); set aside as %s", part.path, what, target)

    def _failed(self, part: _Part, action: str, exc: OSError, consequence: str) -> NoReturn:
        """Report a failed write and bring the index back in line with what is on disk."""
        message = f"{part.path}: {action}: {_reason(exc)}; {consequence}"
        self._last_error = message
        log.error("%s", message)
        self._reindex(part)
        raise StoreError(message) from exc

    def _reindex(self, part: _Part) -> None:
        """After a failed write the file holds the old state, or (if only the folder's fsync
        failed) the new one; follow the file, so that a retried save cannot store a twin."""
        try:
            columns = read_index(part.path)
            entries = [] if columns is None else _rows(columns, part.path)
        except (OSError, CorruptFile):
            return
        on_disk = {rid: state for _, rid, _, state in entries}
        for rid in [rid for rid in part.where if rid not in on_disk]:
            self._drop(rid)
        for doc_id, rid, saved_at, state in entries:
            known = self._index.get(rid)
            if known is None:
                self._add(rid, part.seq, doc_id, saved_at, state)
            elif known == part.seq and part.state(rid) != state:
                self._set_state(rid, state)

    def _sync_folder(self, action: str) -> None:
        try:
            fsync_dir(self.folder)
        except OSError as exc:
            raise StoreError(f"{self.folder}: {action}: {_reason(exc)}") from exc

    def _ensure_open(self) -> None:
        if self._folder_fd is None:
            raise StoreError(f"{self.folder}: the store is closed")


def _checked(record: Any) -> tuple[str, dict[str, Any]]:
    """The id and a private copy, or InvalidRecord; never echoes answer text."""
    if not isinstance(record, dict):
        raise InvalidRecord(f"save: a response must be a dict, not {type(record).__name__}")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid:
        raise InvalidRecord("save: a response needs a non-empty string id")
    try:
        copy = json.loads(json.dumps(record, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"response {rid}: save: not JSON data ({exc})") from exc
    if copy != record:
        raise InvalidRecord(f"response {rid}: save: would not read back equal (tuples, non-string keys?)")
    return rid, copy


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same content as the wire sees it: key order aside, but 1 is not true nor 1.0."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


_CONTAINERS = frozenset({dict, list})


def _copy(value: Any) -> Any:
    """A caller may change what it gets; the cached original must stay as saved.

    Stored records are JSON data (they came out of json.loads), so new dicts and lists over the
    same immutable scalars make a full copy, four times faster than a JSON round trip.
    """
    if type(value) is dict:
        return {k: _copy(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) if type(v) in _CONTAINERS else v for v in value]
    return value


def _set_synced(doc: dict[str, Any], now: float) -> None:
    doc["synced_at"] = now
    doc["quarantine"] = None


def _doc_state(doc: dict[str, Any]) -> int:
    if doc["synced_at"] is not None:
        return SYNCED
    return PENDING if doc["quarantine"] is None else QUARANTINED


def summarize_documents(data: dict[str, Any]) -> dict[str, list[Any]]:
    """The header index of a partition: what opening the store needs, without the answers.

    In columns, in doc id (save) order, so that opening builds the index with C-level loops.
    """
    docs = sorted((int(doc_id), doc) for doc_id, doc in data.get(TABLE, {}).items())
    return {
        "doc_ids": [doc_id for doc_id, _ in docs],
        "ids": [doc["record"]["id"] for _, doc in docs],
        "saved_at": [doc["saved_at"] for _, doc in docs],
        "states": [_doc_state(doc) for _, doc in docs],
    }


def _rows(columns: Any, path: str) -> list[tuple[int, str, float, int]]:
    """The header index as (doc id, response id, saved at, state) rows; CorruptFile if odd."""
    try:
        rows = list(zip(*(columns[name] for name in COLUMNS), strict=True))
        if not all(type(rid) is str for _, rid, _, _ in rows):
            raise TypeError("response ids must be strings")
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFile(Path(path), f"index is malformed ({exc})") from exc
    return rows


def _timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reason(exc: OSError) -> str:
    plain = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EIO: "input/output error (failing disk?)",
    }.get(exc.errno or 0)
    detail = exc.strerror or str(exc)
    return f"{plain} ({detail})" if plain else detail
