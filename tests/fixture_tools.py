"""Helpers for the official-fixture tests (a uniquely named module, importable from every test folder)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURE_ENV = "AUDIOX_OFFICIAL_FIXTURE"


def fixture_dir() -> Path:
    return Path(os.environ.get(FIXTURE_ENV, REPO.parent / "shared" / "fixtures" / "official-tiny")).resolve()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OfficialFixture:
    """The official reference folder, with its gzip-compressed files decompressed into a cache folder."""

    def __init__(self, root: Path, cache: Path) -> None:
        if not (root / "config.json").is_file():
            raise FileNotFoundError(f"official fixture not found at {root} (set {FIXTURE_ENV})")
        self.root = root
        self.cache = cache
        self.meta = json.loads((root / "meta.json").read_text())
        self._tensors: dict[str, dict[str, torch.Tensor]] = {}

    def file(self, name: str) -> Path:
        """Path of ``name``, decompressing ``name.gz`` into the cache on first use (sha256-checked)."""
        plain = self.root / name
        if plain.is_file():
            return plain
        out = self.cache / name
        if not out.is_file():
            tmp = out.with_suffix(out.suffix + ".part")
            with gzip.open(self.root / f"{name}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.rename(out)
        want = _find_sha(self.meta, name)
        if want is not None:
            assert _sha256(out) == want, f"{name}: sha256 mismatch after decompression"
        return out

    def tensors(self, name: str) -> dict[str, torch.Tensor]:
        if name not in self._tensors:
            from safetensors.torch import load_file

            self._tensors[name] = load_file(str(self.file(name)))
        return self._tensors[name]

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        return self.tensors("inputs.safetensors")

    @property
    def expected(self) -> dict[str, torch.Tensor]:
        return self.tensors("expected.safetensors")


def _find_sha(meta: dict, name: str) -> str | None:
    for key in ("sha256", "files", "file_sha256"):
        table = meta.get(key)
        if isinstance(table, dict):
            for k, v in table.items():
                if k == name and isinstance(v, str):
                    return v
                if k == name and isinstance(v, dict) and "sha256" in v:
                    return v["sha256"]
    return None


def load_tiny_t5(official: OfficialFixture):
    from safetensors.torch import load_file
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config.from_dict(json.loads((official.root / "t5_config.json").read_text()))
    model = T5EncoderModel(cfg)
    sd = load_file(str(official.file("t5_tiny.safetensors")))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"encoder.embed_tokens.weight"}, (missing, unexpected)
    model.tie_weights()
    return model.eval()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (the fixture README's measure)."""
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-30)).item()
