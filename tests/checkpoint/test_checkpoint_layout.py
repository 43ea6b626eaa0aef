"""Official key layout, strict loading errors, and lossless conversion."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiox.checkpoint.io import read_state_dict, write_ckpt
from audiox.checkpoint.native import convert
from audiox.checkpoint.official import build_meta_model, infer_clip_overrides, load_model
from audiox.config import load_config
from audiox.errors import CheckpointError, InputError
from audiox.models.presets import get_preset

REPO = Path(__file__).resolve().parents[2]


def _fixture_keys(official) -> list[tuple[str, list[int]]]:
    rows = []
    for line in (official.root / "keys.txt").read_text().splitlines():
        name, shape, _dtype = line.split("\t")
        rows.append((name, [int(s) for s in shape.strip("[]").split(",") if s.strip()]))
    return rows


def test_fixture_key_layout_exact(official):
    """Our module tree produces exactly the fixture's key list: names, order and shapes."""
    cfg = load_config(official.root / "config.json")
    sd, _ = read_state_dict(official.file("model.ckpt"))
    model = build_meta_model(cfg, infer_clip_overrides(sd, cfg))
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == _fixture_keys(official)
    assert len(ours) == official.meta["n_state_dict_keys"]
    assert sum(v.numel() for v in model.state_dict().values()) == official.meta["n_state_dict_elements"]


def _expand_to_released(rows, dit_depth: int, clip_layers: int) -> list[str]:
    """The fixture's key list with the released depths (24 DiT blocks, 12 CLIP layers), in module order."""
    out: list[str] = []
    dit_re = re.compile(r"^(model\.model\.transformer\.layers\.)0(\..*)$")
    clip_re = re.compile(r"^(.*visual_encoder_model\.vision_model\.encoder\.layers\.)0(\..*)$")
    skip = re.compile(r"^model\.model\.transformer\.layers\.[1-9]\d*\.|vision_model\.encoder\.layers\.[1-9]\d*\.")
    block: dict[str, list[str]] = {"dit": [], "clip": []}
    for name, _ in rows:
        if m := dit_re.match(name):
            block["dit"].append(m.group(2))
            prefix_dit = m.group(1)
            continue
        if m := clip_re.match(name):
            block["clip"].append(m.group(2))
            prefix_clip = m.group(1)
            continue
        if skip.search(name):
            continue
        if block["dit"]:
            out += [f"{prefix_dit}{i}{s}" for i in range(dit_depth) for s in block["dit"]]
            block["dit"] = []
        if block["clip"]:
            out += [f"{prefix_clip}{i}{s}" for i in range(clip_layers) for s in block["clip"]]
            block["clip"] = []
        out.append(name)
    return out


def test_released_config_on_meta_device(official):
    """The full-size released model, built without memory: 1357 keys, 1,489,174,804 elements (as in the released
    model.ckpt)."""
    cfg = get_preset("official")
    model = build_meta_model(cfg)
    sd = model.state_dict()
    assert all(v.is_meta for v in sd.values())
    assert len(sd) == 1357
    assert sum(v.numel() for v in sd.values()) == 1_489_174_804
    per_prefix = {
        "model.model.": (374, 1_056_939_152),
        "conditioner.conditioners.video_prompt.visual_encoder_model.": (200, 87_849_216),
        "conditioner.conditioners.audio_prompt.pretransform.model.": (365, 156_112_514),
        "pretransform.model.": (365, 156_112_514),
    }
    for prefix, (n, elems) in per_prefix.items():
        keys = [k for k in sd if k.startswith(prefix)]
        assert (len(keys), sum(sd[k].numel() for k in keys)) == (n, elems), prefix
    shapes = {
        "pretransform.model.decoder.layers.1.layers.1.weight_v": [2048, 1024, 16],
        "pretransform.model.decoder.layers.1.layers.1.weight_g": [2048, 1, 1],
        "pretransform.model.decoder.layers.7.weight_v": [2, 128, 7],
        "model.model.transformer.layers.23.cross_attn.to_kv.weight": [1536, 768],
        "model.model.transformer.layers.0.ff.ff.0.proj.weight": [12288, 1536],
        "model.model.transformer.rotary_pos_emb.inv_freq": [16],
        "model.model.to_global_embed.0.weight": [1536, 1536],
        "conditioner.conditioners.video_prompt.proj.weight": [128, 2500],
        "conditioner.conditioners.video_prompt.visual_encoder_model.visual_projection.weight": [512, 768],
        "conditioner.conditioners.audio_prompt.empty_audio_feat": [1, 215, 768],
        "conditioner.conditioners.audio_prompt.proj_out.weight": [768, 64],
    }
    for k, shape in shapes.items():
        assert list(sd[k].shape) == shape, k
    assert "pretransform.model.decoder.layers.7.bias" not in sd
    # Same module order as the official tree: the fixture's list expanded to the released depths.
    assert list(sd.keys()) == _expand_to_released(_fixture_keys(official), 24, 12)


def _corrupt(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    bad = dict(sd)
    del bad["model.model.to_cond_embed.0.weight"]
    del bad["pretransform.model.encoder.layers.0.bias"]
    bad["model.model.extra.weight"] = torch.zeros(3)
    bad["model.model.preprocess_conv.weight"] = torch.zeros(1, 2, 3)
    return bad


def test_bad_checkpoint_names_every_problem_in_one_short_line(official, tmp_path, caplog):
    """Counts and the first name of each kind in one line of at most MAX_KEYS_MESSAGE characters besides the file
    name; every name at debug level (``audiox -v``)."""
    from audiox.checkpoint.official import MAX_KEYS_MESSAGE

    sd, _ = read_state_dict(official.file("model.ckpt"))
    path = write_ckpt(tmp_path / "model.ckpt", _corrupt(sd))
    with caplog.at_level("DEBUG", logger="audiox.checkpoint.official"), pytest.raises(CheckpointError) as ei:
        load_model(path, config=official.root / "config.json")
    msg = str(ei.value)
    assert "\n" not in msg and len(msg) <= len(str(path)) + 1 + MAX_KEYS_MESSAGE
    for needle in ("2 missing", "model.model.to_cond_embed.0.weight", "1 unexpected", "1 shape mismatches"):
        assert needle in msg
    for needle in ("model.model.to_cond_embed.0.weight", "pretransform.model.encoder.layers.0.bias",
                   "model.model.extra.weight", "model.model.preprocess_conv.weight (file [1, 2, 3]"):
        assert needle in caplog.text


def test_position_ids_key_is_ignored(official, tmp_path):
    sd, _ = read_state_dict(official.file("model.ckpt"))
    sd = dict(sd)
    sd["conditioner.conditioners.video_prompt.visual_encoder_model.vision_model.embeddings.position_ids"] = (
        torch.arange(50)[None])
    path = write_ckpt(tmp_path / "model.ckpt", sd)
    model = load_model(path, config=official.root / "config.json")
    emb = model.conditioner.conditioners["video_prompt"].visual_encoder_model.vision_model.embeddings
    assert torch.equal(emb.position_ids, torch.arange(50)[None])


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "model.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_state_dict(bad)
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "nope.ckpt")


def test_round_trip_lossless(official, tmp_path):
    src = tmp_path / "official"
    src.mkdir()
    (src / "config.json").write_bytes((official.root / "config.json").read_bytes())
    (src / "model.ckpt").symlink_to(official.file("model.ckpt"))
    native = convert(src, tmp_path / "native", to="native")
    back = convert(tmp_path / "native", tmp_path / "back", to="official")
    a, _ = read_state_dict(src / "model.ckpt")
    b, _ = read_state_dict(back)
    assert list(a) == list(b)
    # `convert --to official` writes the official list (names, order, shapes) from an alphabetical native file.
    assert [(k, list(v.shape)) for k, v in b.items()] == _fixture_keys(official)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    # The native model loads and equals the official one.
    m1 = load_model(src)
    m2 = load_model(native.parent)
    for (k1, v1), (k2, v2) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    with pytest.raises(InputError, match="already exists"):
        convert(src, tmp_path / "native", to="native")


def test_identical_vae_copies_are_stored_and_held_once(official, tmp_path):
    sd, _ = read_state_dict(official.file("model.ckpt"))
    sd = dict(sd)
    pre = "conditioner.conditioners.audio_prompt.pretransform."
    for k in list(sd):
        if k.startswith(pre):
            sd[k] = sd["pretransform." + k[len(pre):]].clone()
    src = tmp_path / "src"
    write_ckpt(src / "model.ckpt", sd)
    (src / "config.json").write_bytes((official.root / "config.json").read_bytes())
    model = load_model(src)
    cond = model.conditioner.conditioners["audio_prompt"]
    assert cond.pretransform is model.pretransform
    # The state dict still lists both prefixes, but the parameters (de-duplicated by .parameters()) hold one VAE.
    assert len(model.state_dict()) == official.meta["n_state_dict_keys"]
    n_unique = sum(p.numel() for p in model.parameters())
    vae = sum(p.numel() for p in model.pretransform.parameters())
    n_buffers = sum(b.numel() for k, b in model.state_dict().items() if k.endswith((".beta", ".inv_freq"))
                    and "pretransform" not in k)
    assert n_unique + vae + n_buffers == official.meta["n_state_dict_elements"]
    native = convert(src, tmp_path / "native")
    kept, meta = read_state_dict(native)
    assert meta["audiox.shared_vae"] == "audio_prompt"
    assert not any(k.startswith(pre) for k in kept)
    assert native.stat().st_size < (src / "model.ckpt").stat().st_size


def test_cli_convert_and_errors(official, tmp_path):
    src = tmp_path / "official"
    src.mkdir()
    (src / "config.json").write_bytes((official.root / "config.json").read_bytes())
    (src / "model.ckpt").symlink_to(official.file("model.ckpt"))
    cmd = [sys.executable, "-m", "audiox.cli", "convert"]
    ok = subprocess.run([*cmd, str(src), str(tmp_path / "n"), "--dtype", "bf16"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    sd, _ = read_state_dict(tmp_path / "n" / "model.safetensors")
    assert sd["model.model.to_cond_embed.0.weight"].dtype == torch.bfloat16
    assert sd["model.model.transformer.rotary_pos_emb.inv_freq"].dtype == torch.float32
    bad = subprocess.run([*cmd, str(tmp_path / "missing"), str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1 and "not found" in bad.stderr
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_convert_keeps_the_models_sampler_defaults(tmp_path):
    """A converted model samples as its source did: generation.json (e.g. the built-in sigma_max 80) travels with
    it; a destination that already holds one is refused like its other files."""
    from audiox.checkpoint.native import GENERATION_DEFAULTS
    from audiox.pipeline.settings import read_defaults

    src = Path(__file__).resolve().parents[2] / "audiox" / "assets" / "builtin"
    convert(src, tmp_path / "fp32", to="native", dtype="fp32")
    assert (tmp_path / "fp32" / GENERATION_DEFAULTS).read_bytes() == (src / GENERATION_DEFAULTS).read_bytes()
    assert read_defaults(tmp_path / "fp32") == read_defaults(src)
    other = tmp_path / "other"
    other.mkdir()
    (other / GENERATION_DEFAULTS).write_text("{}")
    with pytest.raises(InputError, match=GENERATION_DEFAULTS):
        convert(src, other, to="native")
    assert (other / GENERATION_DEFAULTS).read_text() == "{}" and not (other / "model.safetensors").exists()
