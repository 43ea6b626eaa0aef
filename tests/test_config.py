"""Config parsing: the official JSON structure, strict keys, errors naming the dotted key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from audiox.config import config_to_json, load_config, parse_config
from audiox.errors import ConfigError
from audiox.models.presets import official_config

REPO = Path(__file__).resolve().parents[1]
RELEASED = official_config()


def test_released_config_parses_and_round_trips():
    cfg = parse_config(RELEASED)
    assert cfg.latent_length == 236  # 485100 // 2048
    assert cfg.model.diffusion.cross_attention_cond_ids == ("video_prompt", "text_prompt", "audio_prompt")
    assert cfg.model.conditioning.get("text_prompt").config.max_length == 128
    assert parse_config(json.loads(config_to_json(cfg))) == cfg


def _broken(edit) -> dict:
    d = copy.deepcopy(RELEASED)
    edit(d)
    return d


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda d: d["model"]["diffusion"]["config"].__setitem__("depht", 3), "model.diffusion.config.depht"),
        (lambda d: d["model"]["diffusion"]["config"].pop("embed_dim"), "model.diffusion.config.embed_dim"),
        (lambda d: d["model"]["diffusion"]["config"].__setitem__("depth", "24"), "model.diffusion.config.depth"),
        (lambda d: d["model"]["diffusion"].__setitem__("type", "ditt"), "model.diffusion.type"),
        (lambda d: d["model"]["conditioning"]["configs"][1].__setitem__("type", "t6"),
         "model.conditioning.configs[1].type"),
        (lambda d: d["model"]["conditioning"]["configs"][1]["config"].__setitem__("max_len", 3),
         "model.conditioning.configs[1].config.max_len"),
        (lambda d: d["model"]["diffusion"].__setitem__("cross_attention_cond_ids", ["video"]),
         "model.diffusion.cross_attention_cond_ids[0]"),
        (lambda d: d["model"]["pretransform"]["config"]["encoder"]["config"].__setitem__("strides", [2, 4]),
         "model.pretransform.config.encoder.config.strides"),
        (lambda d: d["model"]["diffusion"]["config"].__setitem__("io_channels", 32),
         "model.diffusion.config.io_channels"),
        (lambda d: d.__setitem__("sample_rate", -1), "sample_rate"),
        (lambda d: d.pop("model_type"), "model_type"),
    ],
)
def test_bad_keys_are_named(edit, key):
    with pytest.raises(ConfigError) as ei:
        parse_config(_broken(edit))
    msg = str(ei.value)
    assert msg.startswith(key + ":"), msg
    assert "\n" not in msg


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
