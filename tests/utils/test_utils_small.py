"""The small shared helpers: dtype names, the JSON Lines parser, atomic writes that create their folder."""

from __future__ import annotations

import pytest
import torch

from audiox.errors import ConfigError, InputError
from audiox.utils.dtypes import DTYPE_NAMES, torch_dtype
from audiox.utils.files import atomic_write
from audiox.utils.jsonl import parse_jsonl


def test_dtype_names_map_to_torch_dtypes_and_nothing_else() -> None:
    assert DTYPE_NAMES == ("fp32", "fp16", "bf16")
    assert [torch_dtype(n) for n in DTYPE_NAMES] == [torch.float32, torch.float16, torch.bfloat16]
    for bad in ("float32", "FP16", None, 16):
        with pytest.raises(InputError, match=r"^--dtype: unknown .*; expected one of fp32, fp16, bf16$"):
            torch_dtype(bad, what="--dtype")


def test_jsonl_yields_objects_with_line_numbers_and_names_the_bad_line() -> None:
    data = b'{"a": 1}\n\n  \n{"b": [2]}\n'
    assert list(parse_jsonl(data, "f.jsonl")) == [(1, {"a": 1}), (4, {"b": [2]})]
    cases = [(b'{"a": 1}\n{oops\n', r"^f.jsonl:2: not valid JSON \(.* at column 2\)$"),
             (b'[1, 2]\n', r"^f.jsonl:1: expected a JSON object, got list$"),
             (b'{"a": NaN}\n', r"^f.jsonl:1: NaN is not a number JSON allows$"),
             (b'{"a": -Infinity}\n', r"^f.jsonl:1: -Infinity is not a number JSON allows$"),
             (b'{}\n\xff\xfe\n', r"^f.jsonl:2: not UTF-8 text$")]
    for data, message in cases:
        with pytest.raises(ConfigError, match=message):
            list(parse_jsonl(data, "f.jsonl"))
    with pytest.raises(InputError, match="f.jsonl:1"):  # the caller chooses the error type
        list(parse_jsonl(b"nope\n", "f.jsonl", error=InputError))


def test_atomic_write_creates_missing_folders_only_when_asked(tmp_path) -> None:
    target = tmp_path / "a" / "b" / "x.txt"
    with pytest.raises(FileNotFoundError):
        atomic_write(target, lambda tmp: open(tmp, "w").write("x"))
    assert atomic_write(target, lambda tmp: open(tmp, "w").write("x"), parents=True) == target
    assert target.read_text() == "x" and [p.name for p in target.parent.iterdir()] == ["x.txt"]
