"""Packed folders (``audiox preencode --packed``): frozen audio/text encodings plus raw video frames in H.264."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_utils import make_corpus, train_config
from tolerances import EPS, rel_err


@pytest.fixture(scope="module")
def model():
    from audiox.models.presets import build_model

    return build_model("debug", seed=0).eval()


@pytest.fixture(scope="module")
def packed(tmp_path_factory, model):
    from audiox.training.packed import pack

    root = tmp_path_factory.mktemp("packed")
    manifest = make_corpus(root / "data", n_text=2, media=True)
    summary = pack(model, manifest, root / "pack", batch_size=3)
    assert summary["items"] == 6
    return manifest, root / "pack"


def test_packed_items_match_the_raw_items(packed, model) -> None:
    from audiox.data.dataset import ManifestDataset, collate
    from audiox.training.module import AudioXTrainingModule
    from audiox.training.packed import PackedDataset
    from audiox.training.preencode import encode_frozen

    manifest, folder = packed
    ds = PackedDataset(folder)
    raw = ManifestDataset(manifest, model.config.geometry, random_crop=False)
    pb = collate([ds[(i, 0)] for i in range(len(ds))])
    rb = collate([raw[(i, 0)] for i in range(len(raw))])
    assert pb["id"] == rb["id"] and pb["text"] == rb["text"] and pb["task"] == rb["task"]
    # video: H.264 at crf 18, mean absolute error well under 2 grey levels; items without video stay all zero
    assert pb["video"].shape == rb["video"].shape and pb["video"].dtype == torch.uint8
    err = (pb["video"].float() - rb["video"].float()).abs()
    assert err.mean() < 2.0, float(err.mean())
    absent = rb["video"].reshape(6, -1).amax(1) == 0
    assert absent.tolist() == [True, True, False, False, True, True]
    assert (pb["video"][absent] == 0).all()
    with torch.no_grad():
        feats = encode_frozen(model, rb)
    d = feats["latents_raw"].shape[1] // 2
    # audio: posterior means stored as float16, each within half an fp16 ulp of itself (rel_err <= eps16 / 2),
    # plus the fp32 rounding of an encoder batched differently (far smaller; bounded here by another eps16 / 2)
    for k in ("latents_raw", "prompt_raw"):
        ref, got = feats[k][:, :d], pb[k][:, :d]
        assert rel_err(got, ref) <= EPS[torch.float16], k
        assert (pb[k][:, d:] == -30.0).all()
    assert pb["prompt_empty"].tolist() == feats["prompt_empty"].tolist() == [True, True, True, True, False, False]
    # text: int8 per token, within half a step of the encoder output on the valid tokens
    m = feats["text_mask"]
    assert torch.equal(pb["text_mask"], m)
    step = feats["text_hidden"].abs().amax(-1, keepdim=True) / 127
    assert ((pb["text_hidden"] - feats["text_hidden"]).abs() <= step / 2 + 1e-6)[m].all()
    # the training loss on either form agrees to the precision of the storage (masking and CFG dropout off)
    cfg = train_config(sample_posterior=False, masking={"enabled": False})
    module = AudioXTrainingModule(model, cfg, empty=ds.empty_features())
    with torch.no_grad():
        lr, _ = module.loss(rb, torch.Generator().manual_seed(5), training=True)
        lp, _ = module.loss(pb, torch.Generator().manual_seed(5), training=True)
    assert abs(float(lr) - float(lp)) / float(lr) < 0.02, (float(lr), float(lp))


def test_training_on_packed_trains_the_video_encoder_only_among_encoders(packed, model, tmp_path: Path) -> None:
    import copy

    from audiox.training.run import train

    _, folder = packed
    m = copy.deepcopy(model)
    conds = m.conditioner.conditioners

    def boom(*a, **k):
        raise AssertionError("a frozen encoder ran")

    for enc in (m.pretransform.model.encoder, conds["audio_prompt"].pretransform.model.encoder,
                conds["text_prompt"].encoder):
        enc.forward = boom
    clip_before = {n: p.detach().clone() for n, p in conds["video_prompt"].visual_encoder_model.named_parameters()}
    cfg = train_config(max_steps=3, trainable=["dit", "video_temporal", "projections", "empty_features", "clip"],
                       masking={"video_patch_size": 8, "video_patch_ratio": 0.5, "drop_text_prob": 0.5,
                                "drop_video_prob": 0.3, "drop_audio_prob": 0.3})
    summary = train(m, str(folder), tmp_path / "run", cfg, accelerator="cpu", devices=1, progress=False,
                    export=False)
    assert summary["steps"] == 3 and np.isfinite(summary["loss"])
    after = dict(conds["video_prompt"].visual_encoder_model.named_parameters())
    assert any(not torch.equal(after[n], clip_before[n]) for n in clip_before)


def test_packed_folder_from_another_vae_is_refused_and_one_part_can_be_rebuilt(packed, tmp_path: Path) -> None:
    import json
    import shutil

    from audiox.errors import ConfigError
    from audiox.models.presets import build_model
    from audiox.training.packed import pack
    from audiox.training.run import train

    manifest, folder = packed
    copy = tmp_path / "pack"
    shutil.copytree(folder, copy)
    other = build_model("debug", seed=0)
    other.pretransform.model.decoder.layers[0].bias.data += 1  # a decoder change keeps the encodings valid
    summary = train(other, str(copy), tmp_path / "run0", train_config(max_steps=1), accelerator="cpu", devices=1,
                    progress=False, export=False)
    assert summary["steps"] == 1
    for p in other.pretransform.model.encoder.parameters():
        p.data.mul_(1.01)
    with pytest.raises(ConfigError, match="audio part was encoded by another VAE"):
        train(other, str(copy), tmp_path / "run", train_config(max_steps=1), accelerator="cpu", devices=1,
              progress=False)
    video_before = (copy / "video.mp4").read_bytes()
    pack(other, manifest, copy, parts=("audio",))
    assert (copy / "video.mp4").read_bytes() == video_before
    meta = json.loads((copy / "meta.json").read_text())
    assert meta["fingerprints"]["audio"] != json.loads((folder / "meta.json").read_text())["fingerprints"]["audio"]
    summary = train(other, str(copy), tmp_path / "run2", train_config(max_steps=1), accelerator="cpu", devices=1,
                    progress=False, export=False)
    assert summary["steps"] == 1
