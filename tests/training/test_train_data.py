"""Training data: task-specific items, corrupt-sample skipping, the resumable sampler, tar shards, pre-encoding."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_train_utils import SR, N, clip, make_corpus, train_config
from tolerances import PCM16_STEP


@pytest.fixture(scope="module")
def model():
    from audiox.models.presets import build_model

    return build_model("debug", seed=0).eval()


@pytest.fixture(scope="module")
def geo(model):
    return model.config.geometry


def test_geometry_of_debug_model(geo) -> None:
    assert (geo.sample_rate, geo.channels, geo.sample_size, geo.hop) == (SR, 1, N, 64)
    assert (geo.video_fps, geo.video_frames, geo.video_size, geo.prompt_samples) == (5.0, 10, 32, 4096)


def test_items_per_task(tmp_path: Path, geo) -> None:
    from audiox.data.dataset import ManifestDataset

    ds = ManifestDataset(make_corpus(tmp_path, media=True), geo, random_crop=False)
    items = {ds.entries[i].task: ds[(i, 0)] for i in range(len(ds))}
    t2a, v2a, i2a, inp, cont = (items[k] for k in ("t2a", "v2a", "i2a", "inpaint", "continue"))
    for it in items.values():
        assert it["audio"].shape == (1, N) and it["padding_mask"].all() and it["skipped"] == []
        assert it["video"].shape == (10, 3, 32, 32) and it["video"].dtype == torch.uint8
        assert it["audio_prompt"].shape == (1, 4096)
    assert t2a["text"] == "BRIGHT WHISTLE, HIGH! (1)" and not t2a["video"].any() and not t2a["audio_prompt"].any()
    assert v2a["video"].float().mean() > 10  # decoded frames (half of each frame is black)
    assert torch.equal(i2a["video"][0], i2a["video"][-1]) and i2a["video"].any()  # a still repeated
    # inpaint: the window with [0.2, 0.5) s zeroed, first 4096 samples; continue: the head [0, 0.6) s, last 4096
    a = torch.from_numpy(clip(102))
    assert not inp["audio_prompt"][0, 1600:4000].any()
    # 16-bit WAV files: within one quantisation step of the float source
    assert torch.allclose(inp["audio_prompt"][0, :1600], a[:1600], atol=PCM16_STEP, rtol=0)
    assert torch.allclose(cont["audio_prompt"][0], torch.from_numpy(clip(103))[4800 - 4096:4800],
                          atol=PCM16_STEP, rtol=0)


def test_random_crops_and_padding(tmp_path: Path, geo) -> None:
    from audiox.data.dataset import ManifestDataset

    path = make_corpus(tmp_path, n_text=0, long_clip=True)
    ds = ManifestDataset(path, geo)
    offsets = {ds[(0, d)]["offset"] for d in range(20)}
    assert len(offsets) > 5 and all(round(o * SR) % 64 == 0 and o * SR <= 2 * N for o in offsets)
    assert ds[(0, 3)]["offset"] == ds[(0, 3)]["offset"]  # a pure function of the draw seed
    (tmp_path / "short.wav").unlink(missing_ok=True)
    sf.write(tmp_path / "short.wav", clip(0, 5000), SR)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[0].update(audio="short.wav", seconds=5000 / SR)
    path.write_text(json.dumps(lines[0]) + "\n")
    item = ManifestDataset(path, geo)[(0, 1)]
    assert item["padding_mask"].sum() == 5000 and not item["audio"][0, 5000:].any()


def test_corrupt_samples_are_skipped_counted_and_logged(tmp_path: Path, geo, caplog) -> None:
    from audiox.data.dataset import ManifestDataset, ResumableSampler, collate

    path = make_corpus(tmp_path, n_text=3, corrupt=2)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines.append({**lines[0], "id": "missing", "audio": "nowhere.wav"})
    lines.append({**lines[0], "id": "badvideo", "task": "v2a", "video": "broken.mp4"})
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 300)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ds = ManifestDataset(path, geo, random_crop=False)
    bad = {str(tmp_path / x) for x in ("bad0.wav", "bad1.wav", "nowhere.wav", "a0.wav")}  # a0.wav: its video
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), sampler=ResumableSampler(len(ds), seed=0),
                                         collate_fn=collate)
    with caplog.at_level("WARNING", logger="audiox.data.dataset"):
        batch = next(iter(loader))  # one pass over all 7 entries
    assert len(batch["id"]) == len(ds) and batch["audio"].shape == (len(ds), 1, N)
    assert set(batch["skipped"]) == bad  # every failed attempt is recorded (a replacement may fail too)
    assert not {"missing", "badvideo"} & set(batch["id"])
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert all(p in logged for p in bad)


def test_sampler_is_resumable_and_rank_partitioned() -> None:
    from itertools import islice

    from audiox.data.dataset import ResumableSampler

    full = list(islice(iter(ResumableSampler(10, seed=3)), 35))
    assert list(islice(iter(ResumableSampler(10, seed=3, start=12)), 23)) == full[12:]
    assert sorted(i for i, _ in full[:10]) == list(range(10)) and full[:10] != full[10:20]  # epochs reshuffle
    r0 = list(islice(iter(ResumableSampler(10, seed=3, rank=0, world=2)), 5))
    r1 = list(islice(iter(ResumableSampler(10, seed=3, rank=1, world=2)), 5))
    assert sorted(i for i, _ in r0 + r1) == list(range(10))  # one epoch split between the ranks
    assert r0 == full[0:10:2] and r1 == full[1:10:2]


def _write_shard(path: Path, folder: Path, names: list[str], *, corrupt: bool = False) -> None:
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for n in names:
            add(f"{n}.wav", (folder / f"{n}.wav").read_bytes())
            add(f"{n}.json", json.dumps({"caption": f"clip {n}", "task": "t2a"}).encode())
        if corrupt:
            add("zz.wav", b"garbage" * 50)
            add("zz.json", b"{}")


def test_tar_shards_stream_items_and_skip_corrupt(tmp_path: Path, geo) -> None:
    from itertools import islice

    from audiox.data.webdataset import WebDatasetStream

    make_corpus(tmp_path, n_text=4)
    _write_shard(tmp_path / "s-000.tar", tmp_path, ["a0", "a1"], corrupt=True)
    _write_shard(tmp_path / "s-001.tar", tmp_path, ["a2", "a3"])
    stream = WebDatasetStream(str(tmp_path / "s-{000..001}.tar"), geo, seed=0, random_crop=False)
    items = list(islice(iter(stream), 4))
    assert sorted(it["text"] for it in items) == [f"clip a{i}" for i in range(4)]
    assert sum(len(it["skipped"]) for it in items) == 1 and "zz" in next(p for it in items for p in it["skipped"])
    for it in items:
        k = int(it["text"][-1])
        assert torch.allclose(it["audio"][0], torch.from_numpy(clip(k)), atol=PCM16_STEP, rtol=0)  # 16-bit WAV
    # two ranks with one shard each split the stream; a resumed stream continues where it stopped
    r0 = [it["text"] for it in islice(iter(WebDatasetStream(str(tmp_path / "s-*.tar"), geo, seed=0, rank=0,
                                                            world=2, random_crop=False)), 4)]
    r1 = [it["text"] for it in islice(iter(WebDatasetStream(str(tmp_path / "s-*.tar"), geo, seed=0, rank=1,
                                                            world=2, random_crop=False)), 4)]
    assert not set(r0[:2]) & set(r1[:2])
    again = [it["text"] for it in islice(iter(WebDatasetStream(str(tmp_path / "s-*.tar"), geo, seed=0, rank=0,
                                                               world=2, start=1, random_crop=False)), 3)]
    assert again == r0[1:4]


def test_preencoded_equals_raw(tmp_path: Path, model, geo) -> None:
    from audiox.data.dataset import ManifestDataset, PreEncodedDataset, collate
    from audiox.training.module import AudioXTrainingModule
    from audiox.training.preencode import encode_frozen, preencode

    manifest = make_corpus(tmp_path / "data", n_text=2, media=True, corrupt=1)
    summary = preencode(model, manifest, tmp_path / "pre", batch_size=3, shard_items=4)
    assert summary["items"] == 6 and summary["shards"] == 2 and len(summary["skipped"]) == 1
    pre = PreEncodedDataset(tmp_path / "pre")
    raw = ManifestDataset(manifest, geo, random_crop=False)
    good = [i for i in range(len(raw)) if "bad" not in raw.entries[i].audio]
    rb = collate([raw[(i, 0)] for i in good])
    pb = collate([pre[(i, 0)] for i in range(len(pre))])
    assert pb["id"] == rb["id"] and pb["text"] == rb["text"]
    with torch.no_grad():
        feats = encode_frozen(model, rb)
    has_video = ~feats["video_empty"]
    for k, v in feats.items():
        p = pb[k]
        if k == "video_features":  # empty videos are stored as nothing (their features are never used)
            v, p = v[has_video], p[has_video]
        assert torch.equal(p, v.to(p.dtype)), k
    assert pb["video_empty"].tolist() == [True, True, False, False, True, True]
    assert pb["prompt_empty"].tolist() == [True, True, True, True, False, False]
    # the training loss is the same on either form (same generator; masking off, CFG dropout off)
    cfg = train_config(sample_posterior=True, masking={"enabled": False})
    module = AudioXTrainingModule(model, cfg, empty=pre.empty_features())
    for training in (False, True):
        with torch.no_grad():
            lr, _ = module.loss(rb, torch.Generator().manual_seed(5), training=training)
            lp, _ = module.loss(pb, torch.Generator().manual_seed(5), training=training)
        assert torch.equal(lr, lp)


def test_training_on_preencoded_never_runs_frozen_encoders(tmp_path: Path, model) -> None:
    import copy

    from audiox.training.preencode import preencode
    from audiox.training.run import train

    manifest = make_corpus(tmp_path / "data", n_text=2, media=True)
    preencode(model, manifest, tmp_path / "pre")
    m = copy.deepcopy(model)

    def boom(*a, **k):
        raise AssertionError("a frozen encoder ran")

    conds = m.conditioner.conditioners
    for enc in (m.pretransform.model.encoder, conds["audio_prompt"].pretransform.model.encoder,
                conds["video_prompt"].visual_encoder_model, conds["text_prompt"].encoder):
        enc.forward = boom
    cfg = train_config(max_steps=3, masking={"video_token_ratio": 0.5, "drop_text_prob": 0.5,
                                             "drop_video_prob": 0.5, "drop_audio_prob": 0.3})
    summary = train(m, str(tmp_path / "pre"), tmp_path / "run", cfg, accelerator="cpu", devices=1, progress=False,
                    export=False)
    assert summary["steps"] == 3 and np.isfinite(summary["loss"])


def test_preencoded_folder_from_other_weights_is_refused(tmp_path: Path, model) -> None:
    from audiox.errors import ConfigError
    from audiox.models.presets import build_model
    from audiox.training.preencode import preencode
    from audiox.training.run import train

    preencode(model, make_corpus(tmp_path / "data", n_text=1), tmp_path / "pre")
    with pytest.raises(ConfigError, match="other frozen encoder weights"):
        train(build_model("debug", seed=1), str(tmp_path / "pre"), tmp_path / "run", train_config(max_steps=1),
              accelerator="cpu", devices=1, progress=False)


def test_training_on_tar_shards(tmp_path: Path, model) -> None:
    import copy

    from audiox.training.run import train

    make_corpus(tmp_path, n_text=4)
    _write_shard(tmp_path / "s-000.tar", tmp_path, ["a0", "a1"], corrupt=True)
    _write_shard(tmp_path / "s-001.tar", tmp_path, ["a2", "a3"])
    summary = train(copy.deepcopy(model), str(tmp_path / "s-{000..001}.tar"), tmp_path / "run",
                    train_config(max_steps=3), accelerator="cpu", devices=1, progress=False, export=False)
    assert summary["steps"] == 3 and summary["skipped"] >= 1 and np.isfinite(summary["loss"])
