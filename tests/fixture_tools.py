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


def official_ids(model) -> tuple[str, str, str]:
    """The model's (video, text, audio) conditioner ids: the official context order."""
    return tuple(model.conditioner.ids_of_type(t)[0] for t in ("clip", "t5", "audio_autoencoder"))


def official_context(official: OfficialFixture, ids) -> torch.Tensor:
    """The official stage-3 context: the stored stage-2 outputs concatenated (video | text | audio)."""
    return torch.cat([official.expected[f"cond.{i}.out"] for i in ids], dim=1)


def stage_bounds(official: OfficialFixture) -> dict[str, float]:
    """Derived rel_err bounds of each stage, from the fixture's own sizes (see ``tolerances.layer_bound``).

    Depth counts the products on each stage's longest path; k is its longest reduction:
    - VAE (per copy): in conv, 3 residual units x 2 convs + 1 strided conv per block, out conv; k = widest
      channels x longest kernel (7, or 2 x stride);
    - video: CLIP (patch conv, then qkv, scores, attn.v, out, fc1, fc2 per layer), the official temporal
      transformer (4 blocks x 6 products, MLP 3072) and the Linear(2500 -> 128);
    - T5 (run in float16 as the release does; sums in float32): 6 products per layer, plus the final norm;
    - DiT: timestep MLP (3), cond embedding (2), pre/post conv and project in/out (4), 10 products per block
      (self- and cross-attention 4 each, SwiGLU 2); k = the SwiGLU's 4 x embed_dim or a longer attention sum.
    """
    from tolerances import layer_bound

    cfg = json.loads((official.root / "config.json").read_text())
    clip = json.loads((official.root / "clip_config.json").read_text())
    t5 = json.loads((official.root / "t5_config.json").read_text())
    vae = cfg["model"]["pretransform"]["config"]
    enc = vae["encoder"]["config"]
    widest = enc["channels"] * max(enc["c_mults"])
    vae_depth = 2 + 7 * len(enc["strides"])
    vae_k = widest * max(7, 2 * max(enc["strides"]))
    clip_depth = 1 + 6 * clip["num_hidden_layers"]
    clip_k = max(3 * clip["patch_size"] ** 2, clip["hidden_size"], clip["intermediate_size"])
    dit = cfg["model"]["diffusion"]["config"]
    frames = -(-cfg["sample_size"] // vae["downsampling_ratio"])
    ids = cfg["model"]["diffusion"]["cross_attention_cond_ids"]
    context = sum(official.expected[f"cond.{i}.out"].shape[1] for i in ids)  # attention sums over the context
    dit_k = max(4 * dit["embed_dim"], dit["cond_token_dim"], frames + 1, context)
    dit_prefix = 3 + 2 + 2  # timestep MLP and cond embedding on the way in, preprocess conv and project_in
    return {
        "vae": layer_bound(vae_depth, vae_k),
        "clip": layer_bound(clip_depth, clip_k),
        "video": layer_bound(clip_depth + 4 * 6 + 1, max(clip_k, 3072, 2500)),
        "t5": layer_bound(6 * t5["num_layers"] + 1, max(t5["d_model"], t5["d_ff"], t5["num_heads"] * t5["d_kv"]),
                          store=torch.float16),
        "audio": layer_bound(vae_depth + 1, vae_k),
        "timestep": layer_bound(3, max(dit["embed_dim"], 256)),
        "cond_embed": layer_bound(2, dit["cond_token_dim"]),
        **{f"dit_layer{i}": layer_bound(dit_prefix + 10 * (i + 1), dit_k) for i in range(dit["depth"])},
        "dit": layer_bound(dit_prefix + 10 * dit["depth"] + 2, dit_k),
        "dit_depth": dit_prefix + 10 * dit["depth"] + 2,  # a count, not a bound
        "dit_k": dit_k,  # a count, not a bound
    }
