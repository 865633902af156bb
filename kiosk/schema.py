"""A small JSON Schema interpreter for the subset our survey schema uses.

The kiosk must validate survey files without extra packages, and one schema file must serve both
editors and the kiosk, so this reads `assets/schema/survey.schema.json` itself. The test suite checks
that it agrees with the reference `jsonschema` implementation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "assets" / "schema" / "survey.schema.json"

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One place where a document breaks the schema; `path` is like `questions[2].options[0].value`."""

    path: str
    message: str


def json_type(value: Any) -> str:
    """Name a value's JSON type, so that messages speak JSON rather than Python."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


_NAME = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_$-]*\Z")


def join(path: str, key: str | int) -> str:
    """Extend a path the way a clinic admin reads it: `a.b[3].c`, and `a["odd key"]` for other keys."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _NAME.match(key):
        return f"{path}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return f"(a deeply nested {json_type(value)})"
    return text if len(text) <= 40 else text[:37] + "..."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# What our patterns mean, in a clinic admin's words; a pattern not listed is shown as it is.
PATTERN_WORDS = {
    "^[a-z0-9][a-z0-9_-]{0,63}$": (
        "1 to 64 lowercase letters, digits, _ or -, starting with a letter or digit"
    ),
    "^[a-z][a-z0-9_]{0,63}$": "1 to 64 lowercase letters, digits or _, starting with a letter",
    "^[a-z]{2,3}(-[A-Z]{2})?$": "a language code such as en, es or pt-BR",
    "^https://[^\\s]+$": "an https:// address without spaces",
    "^[a-z0-9_-]{1,40}$": "1 to 40 lowercase letters, digits, _ or -",
}


def _ecma_pattern(pattern: str) -> str:
    """JSON Schema patterns are ECMA 262, where `$` is the very end; Python's `$` also matches before
    a final newline, which would let `"fft\\n"` pass as an id."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return "".join(out)


def _unique_key(value: Any) -> str:
    """A key under which equal JSON values meet and `true` and `1` stay apart."""
    try:
        return json.dumps(value, sort_keys=True)
    except RecursionError:
        return repr(value)


@cache
def survey_schema() -> dict[str, Any]:
    """The survey schema, read once."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


class SchemaValidator:
    """Validates a document against a schema dict, yielding every violation found."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._root = schema

    def violations(self, instance: Any) -> list[Violation]:
        return list(self._check(instance, self._root, ""))

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self._root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def _check(self, value: Any, schema: dict[str, Any], path: str) -> Iterator[Violation]:
        where = path or "(top level)"
        if "$ref" in schema:
            yield from self._check(value, self._resolve(schema["$ref"]), path)
        if "if" in schema:
            branch = "then" if not any(self._check(value, schema["if"], path)) else "else"
            if branch in schema:
                yield from self._check(value, schema[branch], path)
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, name) for name in names):
                wanted, got = " or ".join(names), json_type(value)
                shown = f" ({_show(value)})" if got in ("string", "integer", "number", "boolean") else ""
                yield Violation(where, f"must be {_article(wanted)}, not {_article(got)}{shown}")
                return
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(_show(v) for v in schema["enum"])
            yield Violation(where, f"must be one of {allowed}, not {_show(value)}")
            return
        if isinstance(value, str):
            yield from self._check_string(value, schema, where)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                yield Violation(where, f"must be at least {schema['minimum']}, not {_show(value)}")
            if "maximum" in schema and value > schema["maximum"]:
                yield Violation(where, f"must be at most {schema['maximum']}, not {_show(value)}")
        elif isinstance(value, list):
            yield from self._check_array(value, schema, path)
        elif isinstance(value, dict):
            yield from self._check_object(value, schema, path)

    def _check_string(self, value: str, schema: dict[str, Any], where: str) -> Iterator[Violation]:
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield Violation(
                where,
                "must not be empty"
                if schema["minLength"] == 1
                else f"must be at least {schema['minLength']} characters",
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield Violation(where, f"must be at most {schema['maxLength']} characters")
        pattern = schema.get("pattern")
        if pattern is not None and not re.search(_ecma_pattern(pattern), value):
            words = PATTERN_WORDS.get(pattern, f"text of the form {pattern}")
            yield Violation(where, f"must be {words}, not {_show(value)}")

    def _check_array(self, value: list, schema: dict[str, Any], path: str) -> Iterator[Violation]:
        where = path or "(top level)"
        count = len(value)
        if "minItems" in schema and count < schema["minItems"]:
            yield Violation(where, f"must have at least {_plural(schema['minItems'], 'item')}, not {count}")
        if "maxItems" in schema and count > schema["maxItems"]:
            yield Violation(where, f"must have at most {_plural(schema['maxItems'], 'item')}, not {count}")
        if schema.get("uniqueItems"):
            seen: set[str] = set()
            for item in value:
                key = _unique_key(item)
                if key in seen:
                    yield Violation(where, f"lists {_show(item)} more than once")
                seen.add(key)
        if "items" in schema:
            for index, item in enumerate(value):
                yield from self._check(item, schema["items"], join(path, index))

    def _check_object(self, value: dict, schema: dict[str, Any], path: str) -> Iterator[Violation]:
        where = path or "(top level)"
        for key in schema.get("required", []):
            if key not in value:
                yield Violation(where, f'is missing "{key}"')
        properties = schema.get("properties", {})
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            known = f" (known: {', '.join(sorted(properties))})" if properties else ""
            names = ", ".join(sorted(value))
            has = f"only {names}" if names else "none"
            least = _plural(schema["minProperties"], "field")
            yield Violation(where, f"must have at least {least}, has {has}{known}")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            most = _plural(schema["maxProperties"], "field")
            yield Violation(where, f"must have at most {most}, has {', '.join(sorted(value))}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if "propertyNames" in schema:
                for v in self._check(key, schema["propertyNames"], ""):
                    yield Violation(join(path, key), f"key {v.message}")
            if key in properties:
                yield from self._check(item, properties[key], join(path, key))
            elif extra is False:
                known = ", ".join(sorted(properties))
                yield Violation(join(path, key), f"is not a known field (known: {known})")
            elif isinstance(extra, dict):
                yield from self._check(item, extra, join(path, key))


def _article(noun: str) -> str:
    if noun == "null":
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun
