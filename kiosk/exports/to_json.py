"""JSON exports: the records exactly as the contract in design.md has them, nothing renamed.

`json` is one array of records, the simplest thing for a script to load; `jsonl` is one record
per line, for exports too big to load at once and for tools that stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from kiosk.exports.progress import Progress

# Compact JSON with the text as typed; the FHIR writer shares it.
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
# A lone surrogate (from a "\udXXX" escape in some input) has no UTF-8 form; written back as the
# same JSON escape, it reads back exactly as it was.
ESCAPE = "backslashreplace"


def write_json(out: BinaryIO, records: Iterable[Mapping[str, Any]], progress: Progress) -> int:
    done = 0
    out.write(b"[")
    for record in records:
        out.write(b"\n" if not done else b",\n")
        out.write(encode(record).encode(errors=ESCAPE))
        done += 1
        if not done & 1023:
            progress.update(done)
    out.write(b"\n]\n" if done else b"]\n")
    progress.finish(done)
    return done


def write_jsonl(out: BinaryIO, records: Iterable[Mapping[str, Any]], progress: Progress) -> int:
    done = 0
    for record in records:
        out.write(encode(record).encode(errors=ESCAPE) + b"\n")
        done += 1
        if not done & 1023:
            progress.update(done)
    progress.finish(done)
    return done
