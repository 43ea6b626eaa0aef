"""JSON Lines input (one JSON object per line), strict: every error names ``FILE:LINE``.

Used for corpus manifests (:mod:`audiox.data.manifest`); generation batch files follow the same rules. Beyond
what ``json`` checks, a line is refused when it repeats a key (``json`` would keep the last value), when it is
longer than :data:`MAX_LINE_BYTES` or nests more than :data:`MAX_DEPTH` brackets (``json`` would recurse
until Python's stack limit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from audiox.errors import AudioXError, ConfigError

MAX_LINE_BYTES = 1 << 20  # 1 MiB: far above any job or manifest entry
MAX_DEPTH = 32  # nested objects / lists in one line
# a string (to its closing quote, or to the end of an unterminated one: one pass, no backtracking) or a bracket
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


class _Duplicate(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def depth(text: str, stop: int | None = None) -> int:
    """The deepest nesting of ``[]`` / ``{}`` in JSON text (brackets inside strings do not count).

    Args:
        text: JSON text.
        stop: return as soon as the nesting exceeds this (the answer is then ``stop + 1``).
    """
    deepest = level = 0
    for m in _TOKEN.finditer(text):
        c = m.group()
        if c in ("[", "{"):
            level += 1
            deepest = max(deepest, level)
            if stop is not None and deepest > stop:
                break
        elif c in ("]", "}"):
            level -= 1
    return deepest


def loads_strict(text: str, at: str, *, error: type[AudioXError] = ConfigError, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly: no NaN/Infinity, no repeated key, at most ``max_depth`` nested brackets.

    Args:
        text: the JSON text.
        at: where it comes from, prefixing every message (``FILE:LINE`` or a file name).
        error: the exception raised.
        max_depth: deepest nesting allowed.

    Raises:
        error: one line naming ``at`` and the problem (the repeated key, the depth, the JSON error's column).
    """
    if depth(text, stop=max_depth) > max_depth:
        raise error(f"{at}: nested more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique)
    except _Duplicate as e:
        raise error(f"{at}: duplicate key {e.args[0]!r} (JSON would silently keep the last value)") from None
    except RecursionError:  # not reached below max_depth; kept so that no input can give a traceback
        raise error(f"{at}: nested too deeply") from None
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        msg = f"not valid JSON ({e.msg} at column {e.colno})" if hasattr(e, "colno") else str(e)
        raise error(f"{at}: {msg}") from None


def parse_jsonl(data: bytes, where: str, *, error: type[AudioXError] = ConfigError,
                max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of JSON Lines text, with their line numbers; blank lines are skipped.

    Args:
        data: the file's bytes (UTF-8).
        where: the file name used in errors (``where:LINE: ...``).
        error: the exception raised for a bad line.
        max_line_bytes: longest line accepted.

    Yields:
        ``(line number from 1, object)``.

    Raises:
        error: a line that is not UTF-8, too long, not strict JSON (:func:`loads_strict`), or not an object.
    """
    for n, line in enumerate(data.split(b"\n"), 1):
        at = f"{where}:{n}"
        if len(line) > max_line_bytes:
            raise error(f"{at}: the line is {len(line)} bytes; at most {max_line_bytes} are accepted")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{at}: not UTF-8 text") from None
        if not text.strip():
            continue
        obj = loads_strict(text, at, error=error)
        if not isinstance(obj, dict):
            raise error(f"{at}: expected a JSON object, got {type(obj).__name__}")
        yield n, obj
