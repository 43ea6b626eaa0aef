"""JSON Lines input (one JSON object per line), strict: every error names ``FILE:LINE``.

Used for corpus manifests (:mod:`audiox.data.manifest`); generation batch files follow the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from audiox.errors import AudioXError, ConfigError


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_jsonl(data: bytes, where: str, *, error: type[AudioXError] = ConfigError,
                ) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of JSON Lines text, with their line numbers; blank lines are skipped.

    Args:
        data: the file's bytes (UTF-8).
        where: the file name used in errors (``where:LINE: ...``).
        error: the exception raised for a bad line.

    Yields:
        ``(line number from 1, object)``.

    Raises:
        error: a line that is not UTF-8, not JSON (NaN and Infinity are not JSON numbers), or not an object.
    """
    for n, line in enumerate(data.split(b"\n"), 1):
        at = f"{where}:{n}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{at}: not UTF-8 text") from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text, parse_constant=_no_constant)
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            msg = f"not valid JSON ({e.msg} at column {e.colno})" if hasattr(e, "colno") else str(e)
            raise error(f"{at}: {msg}") from None
        if not isinstance(obj, dict):
            raise error(f"{at}: expected a JSON object, got {type(obj).__name__}")
        yield n, obj
