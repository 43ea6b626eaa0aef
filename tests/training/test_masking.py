"""Tests for audiox.training.masking: exact realised ratios, seeding, purity, identity at inference, config errors."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from audiox.errors import ConfigError, InputError
from audiox.training.masking import (
    MaskingConfig,
    apply_masking,
    cfg_dropout,
    drop_modalities,
    mask_audio_spans,
    mask_text_words,
    mask_video_patches,
    mask_video_tokens,
)

# no randomness besides the modality masks themselves
QUIET = {"video_patch_ratio": 0.0, "text_word_ratio": 0.0, "audio_span_ratio_range": (0.0, 0.0),
         "cfg_dropout_prob": 0.0}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def runs(row: torch.Tensor) -> list[tuple[int, int]]:
    """(start, end) of the maximal runs of True in a 1-d bool tensor."""
    d = torch.diff(row.int(), prepend=torch.zeros(1, dtype=torch.int32), append=torch.zeros(1, dtype=torch.int32))
    return list(zip((d == 1).nonzero().flatten().tolist(), (d == -1).nonzero().flatten().tolist()))


def make_batch(b: int = 3, seed: int = 1) -> dict:
    g = gen(seed)
    return {
        "video": torch.randint(1, 256, (b, 4, 3, 64, 96), generator=g, dtype=torch.uint8),  # 2 x 3 patches of 32
        "video_tokens": torch.rand(b, 10, 8, generator=g) + 1.0,
        "text": ["a dog barks near a busy road at night", "rain", "soft piano with gentle strings"][:b],
        "audio_prompt": torch.rand(b, 2, 400, generator=g) + 1.0,
        "target": torch.zeros(b, 2, 50),
    }


def test_defaults_and_sources() -> None:
    cfg = MaskingConfig()
    assert cfg.enabled is True
    assert (cfg.video_patch_ratio, cfg.video_patch_size) == (0.6, 32)
    assert (cfg.video_token_ratio, cfg.video_token_mode) == (0.0, "zero")
    assert (cfg.text_word_ratio, cfg.text_mask_token) == (0.15, "")
    assert (cfg.audio_span_ratio_range, cfg.audio_n_spans) == ((0.25, 0.75), 1)
    assert (cfg.drop_video_prob, cfg.drop_text_prob, cfg.drop_audio_prob) == (0.0, 0.0, 0.0)
    assert cfg.cfg_dropout_prob == 0.1


# ---- video patches -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ratio", "k"), [(0.0, 0), (0.3, 15), (0.6, 29), (0.5, 25), (1.0, 49)])
def test_video_patches_exact_count_per_frame(ratio: float, k: int) -> None:
    frames = torch.randint(1, 256, (2, 5, 3, 224, 224), generator=gen(3), dtype=torch.uint8)
    before = frames.clone()
    out, mask = mask_video_patches(frames, ratio, 32, gen())
    assert mask.shape == (2, 5, 7, 7) and mask.dtype == torch.bool
    assert out.shape == frames.shape and out.dtype == torch.uint8
    assert (mask.sum(dim=(2, 3)) == k).all()  # exact for every frame
    pix = mask.repeat_interleave(32, 2).repeat_interleave(32, 3)[:, :, None].expand_as(frames)
    assert (out[pix] == 0).all()
    assert torch.equal(out[~pix], frames[~pix])
    assert torch.equal(frames, before)


def test_video_patches_independent_per_frame_and_uniform() -> None:
    frames = torch.ones(20, 10, 3, 224, 224)
    _, mask = mask_video_patches(frames, 0.6, 32, gen(5))
    flat = mask.view(200, 49)
    assert len({tuple(r.tolist()) for r in flat}) > 190  # frames draw independently
    # each position is masked with probability exactly 29/49 per frame, independently across frames
    p, n = 29 / 49, flat.shape[0]
    tol = 5 * math.sqrt(n * p * (1 - p))  # 5 sigma: 49 simultaneous comparisons
    assert ((flat.sum(0).float() - n * p).abs() < tol).all()


def test_video_patches_float_and_errors() -> None:
    frames = torch.rand(1, 2, 3, 64, 64) + 0.5
    out, mask = mask_video_patches(frames, 0.5, 16, gen())
    assert out.dtype == frames.dtype and (mask.sum(dim=(2, 3)) == 8).all()
    with pytest.raises(InputError, match="patch_size"):
        mask_video_patches(torch.rand(1, 2, 3, 60, 64), 0.5, 16, gen())
    with pytest.raises(InputError, match="ratio"):
        mask_video_patches(frames, 1.5, 16, gen())
    with pytest.raises(InputError, match="frames"):
        mask_video_patches(torch.rand(2, 3, 64, 64), 0.5, 16, gen())


# ---- video tokens --------------------------------------------------------------------------------------------

def test_video_tokens_zero_mode_exact() -> None:
    tokens = torch.rand(6, 49, 4) + 1.0
    before = tokens.clone()
    out, keep = mask_video_tokens(tokens, 0.6, "zero", gen())
    assert out.shape == tokens.shape and keep.shape == (6, 49)
    assert ((~keep).sum(1) == 29).all()
    assert (out[~keep] == 0).all() and torch.equal(out[keep], tokens[keep])
    assert torch.equal(tokens, before)


def test_video_tokens_drop_mode_keeps_order() -> None:
    tokens = torch.arange(4 * 10 * 3, dtype=torch.float32).view(4, 10, 3)
    out, keep = mask_video_tokens(tokens, 0.3, "drop", gen(2))
    assert out.shape == (4, 7, 3)
    for i in range(4):
        idx = keep[i].nonzero().flatten()
        assert torch.equal(out[i], tokens[i, idx])
        assert (out[i, 1:, 0] > out[i, :-1, 0]).all()  # original order
    with pytest.raises(InputError, match="mode"):
        mask_video_tokens(tokens, 0.3, "mask", gen())  # type: ignore[arg-type]


# ---- text ----------------------------------------------------------------------------------------------------

def test_text_words_exact_count_and_order() -> None:
    texts = [" ".join(f"w{i}" for i in range(n)) for n in (0, 1, 2, 5, 10, 20)]
    before = list(texts)
    g = gen()
    for _ in range(50):
        out = mask_text_words(texts, 0.3, g)
        for src, dst in zip(texts, out):
            words, kept = src.split(), dst.split()
            k = {0: 0, 1: 0, 2: 1, 5: 2, 10: 3, 20: 6}[len(words)]  # half-up, never all words
            assert len(kept) == len(words) - k
            it = iter(words)
            assert all(w in it for w in kept)  # a subsequence: order kept
    assert texts == before


def test_text_words_mask_token_and_limits() -> None:
    out = mask_text_words(["a b c d e f g h i j"], 0.5, gen(), mask_token="<unk>")[0].split()
    assert len(out) == 10 and out.count("<unk>") == 5
    assert [w for w in out if w != "<unk>"] == [w for w in "a b c d e f g h i j".split() if w in out]
    assert mask_text_words(["one", "two words"], 0.99, gen()) == ["one", mask_text_words(["two words"], 0.99, gen())[0]]
    assert len(mask_text_words(["two words"], 0.99, gen())[0].split()) == 1  # never all unless ratio == 1
    assert mask_text_words(["all of these go", "x"], 1.0, gen()) == ["", ""]
    assert mask_text_words(["", "keep me"], 0.0, gen()) == ["", "keep me"]


# ---- audio spans ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_spans", [1, 3])
def test_audio_span_ratio_statistics_and_contiguity(n_spans: int) -> None:
    lo, hi, n, length = 0.25, 0.75, 3000, 1000
    audio = torch.rand(n, 1, length) + 1.0
    before = audio.clone()
    out, mask = mask_audio_spans(audio, (lo, hi), n_spans, gen(7))
    ratios = mask.float().mean(1)
    half = 0.5 / length  # rounding of ratio * T to whole samples
    assert (ratios >= lo - half).all() and (ratios <= hi + half).all()
    # mean of U[lo, hi] is (lo + hi) / 2 with sd (hi - lo) / sqrt(12); 4 standard errors plus rounding
    tol = 4 * (hi - lo) / math.sqrt(12) / math.sqrt(n) + half
    assert abs(ratios.mean().item() - (lo + hi) / 2) < tol
    for row in mask[:200]:
        spans = runs(row)
        assert len(spans) == n_spans  # distinct, non-overlapping, contiguous runs
        assert sum(e - s for s, e in spans) == int(row.sum())
    assert mask.any(0).all()  # every position (first and last included) gets masked sometimes
    assert (out[mask[:, None, :].expand_as(out)] == 0).all()
    assert torch.equal(out[~mask[:, None, :].expand_as(out)], audio[~mask[:, None, :].expand_as(audio)])
    assert torch.equal(audio, before)


def test_audio_span_edge_cases() -> None:
    audio = torch.ones(4, 2, 8)
    _, mask = mask_audio_spans(audio, (0.25, 0.25), 5, gen())  # 2 samples: at most 2 spans of 1
    assert (mask.sum(1) == 2).all() and all(len(runs(r)) == 2 for r in mask)
    _, mask = mask_audio_spans(audio, (1.0, 1.0), 3, gen())
    assert mask.all()
    _, mask = mask_audio_spans(audio, (0.0, 0.0), 3, gen())
    assert not mask.any()
    with pytest.raises(InputError, match="ratio_range"):
        mask_audio_spans(audio, (0.8, 0.2), 1, gen())
    with pytest.raises(InputError, match="n_spans"):
        mask_audio_spans(audio, (0.2, 0.3), 0, gen())


# ---- dropout -------------------------------------------------------------------------------------------------

def test_drop_modalities_binomial_frequencies() -> None:
    n, probs = 20000, {"video": 0.3, "text": 0.1, "audio_prompt": 0.5}
    flags = drop_modalities(n, probs, gen())
    assert set(flags) == set(probs)
    for name, p in probs.items():
        assert flags[name].shape == (n,) and flags[name].dtype == torch.bool
        assert abs(flags[name].sum().item() - n * p) < 4 * math.sqrt(n * p * (1 - p))
    both = (flags["video"] & flags["audio_prompt"]).sum().item()  # independence across modalities
    p = 0.3 * 0.5
    assert abs(both - n * p) < 4 * math.sqrt(n * p * (1 - p))
    # insertion order does not matter
    flipped = drop_modalities(n, dict(reversed(list(probs.items()))), gen())
    assert all(torch.equal(flags[k], flipped[k]) for k in probs)


def test_cfg_dropout_frequency() -> None:
    n, p = 20000, 0.1
    flags = cfg_dropout(n, p, gen())
    assert flags.shape == (n,) and abs(flags.sum().item() - n * p) < 4 * math.sqrt(n * p * (1 - p))
    assert not cfg_dropout(100, 0.0, gen()).any() and cfg_dropout(100, 1.0, gen()).all()
    with pytest.raises(InputError, match="probs"):
        cfg_dropout(10, 1.2, gen())


# ---- seeding -------------------------------------------------------------------------------------------------

def _all_draws(seed: int) -> list:
    g = gen(seed)
    return [
        mask_video_patches(torch.ones(2, 3, 3, 64, 64), 0.5, 32, g)[1],
        mask_video_tokens(torch.ones(2, 20, 4), 0.5, "zero", g)[1],
        mask_text_words(["a b c d e f g h i j k l"] * 3, 0.5, g),
        mask_audio_spans(torch.ones(2, 1, 500), (0.25, 0.75), 2, g)[1],
        drop_modalities(64, {"video": 0.5, "text": 0.5}, g),
        cfg_dropout(64, 0.5, g),
    ]


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)  # type: ignore[arg-type]
    if isinstance(a, dict):
        return all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    return a == b


def test_same_seed_same_masks_different_seed_different() -> None:
    a, b, c = _all_draws(0), _all_draws(0), _all_draws(1)
    assert all(_same(x, y) for x, y in zip(a, b))
    assert not any(_same(x, y) for x, y in zip(a, c))
    cfg = MaskingConfig(drop_text_prob=0.5, video_token_ratio=0.4)
    o1, o2 = (apply_masking(make_batch(), cfg, gen(9), training=True) for _ in range(2))
    o3 = apply_masking(make_batch(), cfg, gen(10), training=True)
    for key in ("video", "video_tokens", "audio_prompt"):
        assert torch.equal(o1[key], o2[key]) and not torch.equal(o1[key], o3[key])
    assert o1["text"] == o2["text"]


# ---- apply_masking -------------------------------------------------------------------------------------------

def test_apply_masking_identity_at_inference_and_when_disabled() -> None:
    batch = make_batch()
    assert apply_masking(batch, MaskingConfig(), gen(), training=False) is batch
    assert apply_masking(batch, MaskingConfig(enabled=False), gen(), training=True) is batch
    assert "mask_info" not in batch


def test_apply_masking_pure_and_exact() -> None:
    batch = make_batch()
    snapshot = {k: (v.clone() if isinstance(v, torch.Tensor) else list(v)) for k, v in batch.items()}
    cfg = MaskingConfig(video_patch_ratio=0.5, video_token_ratio=0.3, video_token_mode="drop", text_word_ratio=0.5)
    out = apply_masking(batch, cfg, gen(), training=True)
    for k, v in snapshot.items():
        assert _same(batch[k], v), k
    assert "mask_info" not in batch and out["target"] is batch["target"]
    info = out["mask_info"]
    assert (info["video_patch_mask"].sum(dim=(2, 3)) == 3).all()  # 0.5 of 6 patches, per frame
    # ratios of small integer counts: one float32 division each, within an ulp (allclose's default rtol is 1e-5)
    assert torch.allclose(info["video_patch_ratio"], torch.full((3,), 0.5))
    assert out["video_tokens"].shape == (3, 7, 8) and torch.allclose(info["video_token_ratio"], torch.full((3,), 0.3))
    assert [len(s.split()) for s in out["text"]] == [4, 1, 2]  # 9 - 5 (half-up), 1 - 0 (never all), 5 - 3
    assert torch.allclose(info["text_word_ratio"], torch.tensor([5 / 9, 0.0, 0.6]))
    r = info["audio_span_ratio"]
    assert ((r >= 0.25 - 1 / 800) & (r <= 0.75 + 1 / 800)).all()
    assert torch.equal(info["audio_span_mask"], out["audio_prompt"].eq(0).all(1))
    assert info["cfg_dropped"].shape == (3,) and set(info["dropped"]) == {"video", "text", "audio_prompt"}
    with pytest.raises(InputError, match="mask_info"):
        apply_masking(out, cfg, gen(), training=True)


def test_apply_masking_dropped_modalities_become_empty() -> None:
    batch = make_batch()
    cfg = MaskingConfig(**QUIET, drop_video_prob=1.0, drop_text_prob=1.0, drop_audio_prob=1.0)
    out = apply_masking(batch, cfg, gen(), training=True)
    assert not out["video"].any() and not out["video_tokens"].any() and not out["audio_prompt"].any()
    assert out["text"] == ["", "", ""] and out["video"].dtype == torch.uint8
    assert all(f.all() for f in out["mask_info"]["dropped"].values())
    assert not out["mask_info"]["cfg_dropped"].any()
    assert batch["video"].all() and batch["text"][0]  # inputs untouched
    keep = apply_masking(batch, MaskingConfig(**QUIET), gen(), training=True)
    for k in ("video", "video_tokens", "audio_prompt"):
        assert torch.equal(keep[k], batch[k])
    assert keep["text"] == batch["text"]


def test_apply_masking_partial_batches_and_errors() -> None:
    out = apply_masking({"text": ["a b c d"]}, MaskingConfig(text_word_ratio=0.5), gen(), training=True)
    assert len(out["text"][0].split()) == 2 and set(out["mask_info"]["dropped"]) == {"text"}
    with pytest.raises(InputError, match="inconsistent"):
        apply_masking({"text": ["a"], "audio_prompt": torch.ones(2, 1, 10)}, MaskingConfig(), gen(), training=True)
    with pytest.raises(InputError, match="none of the keys"):
        apply_masking({"target": torch.ones(1)}, MaskingConfig(), gen(), training=True)


# ---- config --------------------------------------------------------------------------------------------------

def test_from_dict_round_trip() -> None:
    cfg = MaskingConfig.from_dict({"video_patch_ratio": 0.4, "audio_span_ratio_range": [0.1, 0.2], "audio_n_spans": 2})
    assert cfg.audio_span_ratio_range == (0.1, 0.2) and cfg.video_patch_ratio == 0.4
    assert MaskingConfig.from_dict(cfg.to_dict()) == cfg
    assert MaskingConfig.from_dict({}) == MaskingConfig()


@pytest.mark.parametrize(
    ("d", "key"),
    [
        ({"video_mask_ratio": 0.5}, "masking.video_mask_ratio"),
        ({"video_patch_ratio": 1.5}, "masking.video_patch_ratio"),
        ({"text_word_ratio": -0.1}, "masking.text_word_ratio"),
        ({"drop_audio_prob": "0.2"}, "masking.drop_audio_prob"),
        ({"cfg_dropout_prob": True}, "masking.cfg_dropout_prob"),
        ({"video_patch_size": 0}, "masking.video_patch_size"),
        ({"audio_n_spans": 1.5}, "masking.audio_n_spans"),
        ({"video_token_mode": "pad"}, "masking.video_token_mode"),
        ({"audio_span_ratio_range": [0.8, 0.2]}, "masking.audio_span_ratio_range"),
        ({"audio_span_ratio_range": [0.2, 1.2]}, "masking.audio_span_ratio_range"),
        ({"audio_span_ratio_range": 0.5}, "masking.audio_span_ratio_range"),
        ({"enabled": "yes"}, "masking.enabled"),
    ],
)
def test_from_dict_errors_name_the_key(d: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}:"):
        MaskingConfig.from_dict(d)


def test_from_dict_custom_path_and_direct_construction() -> None:
    with pytest.raises(ConfigError, match=r"^training\.masking\.text_word_ratio:"):
        MaskingConfig.from_dict({"text_word_ratio": 2}, path="training.masking")
    with pytest.raises(ConfigError, match=r"^masking\.video_patch_ratio:"):
        MaskingConfig(video_patch_ratio=-1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        MaskingConfig().enabled = False  # type: ignore[misc]


@pytest.mark.gpu
def test_cpu_generator_with_cuda_data_matches_cpu() -> None:
    batch = make_batch()
    cuda = {k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    cfg = MaskingConfig(video_token_ratio=0.5, drop_text_prob=0.5)
    a = apply_masking(batch, cfg, gen(4), training=True)
    b = apply_masking(cuda, cfg, gen(4), training=True)
    for k in ("video", "video_tokens", "audio_prompt"):
        assert b[k].is_cuda and torch.equal(a[k], b[k].cpu())
    assert a["text"] == b["text"]
    assert torch.equal(a["mask_info"]["cfg_dropped"], b["mask_info"]["cfg_dropped"].cpu())
