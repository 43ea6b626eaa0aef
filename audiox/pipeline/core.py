"""``AudioXPipeline``: anything-to-audio generation with one call.

Text, video, image and audio prompts in any combination; negative prompts; inpainting of time ranges;
continuation of a clip; outputs longer than the model window (overlapping windows, each conditioned on the
previous one through the audio prompt and on its own slice of the video).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiox.errors import InputError
from audiox.geometry import Geometry
from audiox.models.audiox import AudioXModel
from audiox.models.diffusion import make_denoiser
from audiox.pipeline import finite
from audiox.pipeline.inputs import (
    DEFAULT_VIDEO_PROMPTS,
    ConditionerIds,
    as_list,
    audio_prompt_tensor,
    batch_size_of,
    check_geometry,
    conditioner_ids,
    load_audio_clip,
    load_video_prompt,
    output_samples,
    parse_ranges,
)
from audiox.pipeline.output import AudioOutput
from audiox.pipeline.request import GenerationRequest
from audiox.pipeline.settings import (
    DEFAULT_LIMITS,
    DEFAULT_RUN,
    Limits,
    RunOptions,
    SamplerSettings,
    check_seconds,
    few_step_settings,
)
from audiox.pipeline.source import ModelSource, builtin_model_dir, inspect_model
from audiox.pipeline.windows import (
    Window,
    crossfade_paste,
    known_latent_mask,
    known_run_end,
    plan_windows,
    restore_known,
)
from audiox.sampling.samplers import Denoiser
from audiox.utils import checks, seeds

log = logging.getLogger(__name__)

__all__ = ["AudioXPipeline", "GenerationRequest", "SamplerSettings", "builtin_model_dir"]


class AudioXPipeline:
    """Generation front end around an :class:`AudioXModel`.

    The pipeline changes nothing on the model it is given: its :class:`RunOptions` are passed to every DiT forward,
    VAE encode and decode call, so several pipelines may share one model with different options.

    Args:
        model: a loaded model in eval mode (``model.eval()``; :meth:`from_pretrained` loads one).
        device: where to run (default: the model's device).
        defaults: sampler defaults for this model.
        source: where the model came from (recorded in the settings sidecar).
        options: the fast path's switches (:class:`RunOptions`; ``REFERENCE_RUN`` is the official order).

    Raises:
        ValueError: ``model`` is in training mode.
    """

    def __init__(self, model: AudioXModel, *, device: str | torch.device | None = None,
                 defaults: SamplerSettings | None = None, source: str = "", options: RunOptions = DEFAULT_RUN) -> None:
        if model.training:
            raise ValueError("model: in training mode; give model.eval() (the pipeline does not change its model)")
        self.model = model
        self.options = options
        self._dit = torch.compile(model.dit) if options.compile else model.dit
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.defaults = defaults or SamplerSettings()
        self.geometry: Geometry = model.config.geometry
        self.ids: ConditionerIds = conditioner_ids(model)
        check_geometry(model, self.geometry)
        self.source = source
        self.lora: tuple = ()  # the LoRA adapters applied to the DiT (audiox.checkpoint.lora.LoraSpec)
        self.overlap_seconds = min(2.0, self.geometry.window_seconds / 4)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | ModelSource | None = None, *,
                        device: str | torch.device | None = None, dtype: torch.dtype | None = None,
                        vae_dtype: torch.dtype | None = None, text_encoder_path: str | os.PathLike | None = None,
                        options: RunOptions = DEFAULT_RUN, few_step_bf16: bool = False,
                        lora: Sequence[str | os.PathLike | tuple[str | os.PathLike, float]] = ()) -> AudioXPipeline:
        """Load an official-format folder (config.json + model.ckpt) or a native folder (+ model.safetensors).

        Args:
            path: model folder or weights file (or a :class:`ModelSource` already checked); None: built-in.
            device: "cpu", "cuda", ... (default: cuda if available).
            dtype: DiT and video-encoder dtype (default float32; bfloat16 is 2-3.5x faster on CPUs with bf16
                instructions, see :func:`audiox.utils.dtypes.fast_dtype`). Weights are cast one tensor at a time
                while loading (no full float32 copy).
            vae_dtype: VAE decoder dtype (default float32; the encoders stay float32).
            text_encoder_path: local T5 folder for official models (or env ``AUDIOX_T5_PATH``).
            options: the fast path's switches.
            few_step_bf16: the few-step preset (:data:`audiox.pipeline.settings.FEW_STEP_PRESET`) as the sampler
                defaults, and unless given, ``dtype`` and ``vae_dtype`` bf16 where the device has bf16 instructions
                (:func:`audiox.utils.dtypes.fast_dtype`); ``--fast`` on the command line.
            lora: LoRA adapter folders (``audiox train --lora``), or (folder, scale) pairs, applied unmerged to the
                DiT (:func:`audiox.checkpoint.lora.load_adapters`); each must have been trained on this model.
        """
        from audiox.checkpoint.official import dtype_plan, load_model

        source = path if isinstance(path, ModelSource) else inspect_model(path, text_encoder_path=text_encoder_path)
        checks.device(None if device is None else str(device), "device")
        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        defaults = source.defaults
        if few_step_bf16:
            from audiox.utils.dtypes import fast_dtype, torch_dtype

            dtype = dtype or torch_dtype(fast_dtype(dev.type))
            vae_dtype = vae_dtype or dtype
            defaults = few_step_settings(defaults)
        plan = lambda cfg: dtype_plan(cfg, dtype or torch.float32, vae_dtype or torch.float32)  # noqa: E731
        model = load_model(source.path, device=dev, dtype=plan, text_encoder_path=text_encoder_path,
                           require_text_encoder=True)
        name = str(source.path)
        if lora:
            from audiox.checkpoint.lora import LoraSpec, load_adapters, parse_spec

            specs = [LoraSpec(Path(x[0]), float(x[1])) if isinstance(x, tuple) else parse_spec(str(x), "lora")
                     for x in lora]
            load_adapters(model, specs, flag="lora")
            name += "".join(f" + LoRA {s.folder} x {s.scale:g}" for s in specs)
        pipe = cls(model, device=dev, defaults=defaults, source=name, options=options)
        pipe.lora = tuple(specs) if lora else ()
        return pipe

    # ----------------------------------------------------------------------------------------------
    def __call__(
        self, text: str | Sequence[str] | GenerationRequest | None = None, *, video: Any = None, image: Any = None,
        audio: Any = None, negative_text: str | Sequence[str] | None = None, seconds: float | None = None,
        inpaint: Sequence[tuple[float, float] | str] | str | None = None, continue_audio: bool = False,
        music: bool = False, video_start: float = 0.0, steps: int | None = None, cfg_scale: float | None = None,
        sampler: str | None = None, sigma_min: float | None = None, sigma_max: float | None = None,
        scale_phi: float | None = None, seed: int | None = None, progress: bool = False,
        limits: Limits = DEFAULT_LIMITS,
    ) -> AudioOutput:
        """Generate audio for a :class:`GenerationRequest`, or for the keywords of one (which build it).

        Args:
            text: a request (then give no other argument), or the prompt(s): see :class:`GenerationRequest`
                for every keyword (the same names; a refusal names them).

        Returns:
            :class:`AudioOutput` with audio (B, C, T); its settings are the resolved request (the sidecar).
        """
        if isinstance(text, GenerationRequest):
            return self.generate(text)
        return self.generate(GenerationRequest(
            text=text, negative_text=negative_text, video=video, image=image, audio=audio, video_start=video_start,
            inpaint=inpaint or (), continue_audio=continue_audio, music=music, seconds=seconds, steps=steps,
            cfg_scale=cfg_scale, sampler=sampler, sigma_min=sigma_min, sigma_max=sigma_max, scale_phi=scale_phi,
            seed=seed, limits=limits, progress=progress))

    def generate(self, request: GenerationRequest) -> AudioOutput:
        """Generate audio for ``request`` (checked when it was made): its model defaults and seed are filled in
        (:meth:`GenerationRequest.resolved`), one generator is made from the seed, and the windows are sampled.

        Returns:
            :class:`AudioOutput` with audio (B, C, T), latents (B, D, N) and the resolved request as settings.
        """
        req = request.resolved(self.defaults)
        geo = self.geometry
        b = batch_size_of(req.text, req.video, req.image, req.audio)
        texts, negs = self._prompts(req, b)
        clips = [load_audio_clip(a, geo) for a in as_list(req.audio, b, "audio")]
        total, known, reference = self._canvas(clips, req)
        check_seconds("audio", total / geo.sample_rate, req.limits, what="the output")
        work = _Work(req, texts, negs, self._frames(req, b, total), clips, reference.clone(), known.clone(),
                     seeds.generator(req.seed))  # one recorded seed: the one generator everything draws from
        canvas, latents = self._sample_windows(work, total, known, reference)
        keeps = bool(known.any())
        if keeps:
            canvas = restore_known(canvas, reference, known, int(0.02 * geo.sample_rate))
        return AudioOutput(canvas, geo.sample_rate, latents, self._settings(req, texts, negs, total),
                           keeps_input_audio=keeps)

    # ----------------------------------------------------------------------------------------------
    def _prompts(self, req: GenerationRequest, b: int) -> tuple[list[str], list[str]]:
        """The texts and negative texts of the ``b`` items (the official video prompt where a video or image has
        no text)."""
        texts = [(t or "").strip() for t in as_list(req.text, b, "text")]
        negs = [(t or "").strip() for t in as_list(req.negative_text, b, "negative_text")]
        if req.text is None:
            media = zip(as_list(req.video, b, "video"), as_list(req.image, b, "image"))
            prompt = DEFAULT_VIDEO_PROMPTS["music" if req.music else "audio"]
            texts = [prompt if v is not None or i is not None else t for t, (v, i) in zip(texts, media)]
        return texts, negs

    def _frames(self, req: GenerationRequest, b: int, total: int) -> list[torch.Tensor] | None:
        """Video frames of each item, decoded once for the whole output (each window takes its own slice)."""
        if not self.ids.video:
            return None
        geo = self.geometry
        seconds = total / geo.sample_rate
        videos, images = as_list(req.video, b, "video"), as_list(req.image, b, "image")
        return [load_video_prompt(videos[i], images[i], geo, start=req.video_start, seconds=seconds + geo.video_seconds,
                                  cover=seconds) for i in range(b)]

    def _settings(self, req: GenerationRequest, texts: list[str], negs: list[str], total: int) -> dict[str, Any]:
        """The resolved request as the sidecar records it, with the model and its dtypes."""
        return dict(text=texts, negative_text=req.negative_text and negs, video=_describe(req.video),
                    image=_describe(req.image), audio=_describe(req.audio), seconds=total / self.geometry.sample_rate,
                    inpaint=[list(r) for r in req.inpaint], continue_audio=req.continue_audio,
                    video_start=req.video_start, steps=req.steps, cfg_scale=req.cfg_scale, sampler=req.sampler,
                    sigma_min=req.sigma_min, sigma_max=req.sigma_max, rho=self.defaults.rho, scale_phi=req.scale_phi,
                    seed=req.seed, model=self.source, dtype=_dtype_name(self.model.dit),
                    vae_dtype=_dtype_name(self.model.pretransform.model.decoder))

    def _sample_windows(self, work: _Work, total: int, known: torch.Tensor, reference: torch.Tensor,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample the windows in order: the canvas (B, C, T) and the latents (B, D, N) of every new part.

        Args:
            total: output samples; known: (T,) bool, the caller's kept samples; reference: (B, C, T) holding them.

        Each window reads and writes only its own span (and the audio prompt just before it), so the work is
        linear in the output length; a window whose every latent frame is known is not sampled.
        """
        from tqdm.auto import tqdm

        geo = self.geometry
        canvas = torch.zeros_like(reference)
        overlap_samples = max(1, round(self.overlap_seconds * geo.sample_rate / geo.hop)) * geo.hop
        windows = plan_windows(total, geo.sample_size, min(overlap_samples, geo.sample_size // 2))
        latents_out = []
        for k, win in enumerate(tqdm(windows, desc="windows", disable=not work.request.progress or len(windows) == 1)):
            end = min(win.start + win.length, total)
            mask = known_latent_mask(work.filled_known, win.start, geo.window_latents, geo.hop)
            if bool(mask.all()):  # nothing to generate here: the known audio and its latents
                lat, out = self._known_latents(work.filled, win), work.filled[..., win.start:end].clone()
            else:
                lat, out = self._window(work, win, mask)
            overlap = 0 if k == 0 else windows[k - 1].start + windows[k - 1].length - win.start
            crossfade_paste(canvas, out, win.start, overlap)
            latents_out.append(lat[..., overlap // geo.hop:])  # the part no earlier window produced
            span = slice(win.start, end)  # the only canvas samples this window changed
            work.filled[..., span] = torch.where(known[span], reference[..., span], canvas[..., span])
            work.filled_known[span] = True
        return canvas, torch.cat(latents_out, dim=-1)[..., : -(-total // geo.hop)]

    def _canvas(self, clips: list[torch.Tensor | None], req: GenerationRequest,
                ) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Total samples, known-sample mask (T,), and the reference audio (B, C, T) holding the caller's clip."""
        geo = self.geometry
        sr = geo.sample_rate
        keeps = bool(req.inpaint) or req.continue_audio
        lens = {c.shape[-1] for c in clips if c is not None}
        if keeps and (len(lens) != 1 or any(c is None for c in clips)):
            raise InputError("inpaint / continue need one audio clip length for the whole batch")
        clip_len = lens.pop() if lens else 0
        ranges = parse_ranges(list(req.inpaint), clip_len / sr) if req.inpaint else []
        total = output_samples(clip_len, req.seconds, inpaint=bool(req.inpaint), continue_audio=req.continue_audio,
                               geo=geo)
        known = torch.zeros(total, dtype=torch.bool)
        reference = torch.zeros(len(clips), geo.channels, total)
        if keeps:
            for i, c in enumerate(clips):
                reference[i, :, :clip_len] = c[:, :total]
            known[:clip_len] = True
            for s, e in ranges:
                known[int(round(s * sr)): int(round(e * sr))] = False
        return total, known, reference

    def _known_latents(self, filled: torch.Tensor, win: Window) -> torch.Tensor:
        """The main VAE's latents (B, D, N) of the window's known audio (one window of samples, zero-padded)."""
        seg = filled[..., win.start: win.start + win.length]
        seg = torch.nn.functional.pad(seg, (0, win.length - seg.shape[-1]))
        x0 = self.model.encode(seg.to(self.device), conv2d=self.options.vae_conv2d)
        x0 = x0[..., : self.geometry.window_latents]
        finite.check_encoded(self.model, x0, seg)
        return x0

    def _window_inputs(self, work: _Work, win: Window) -> dict[str, Any]:
        """The conditioners' inputs of one window, on the device: its text, its slice of the video, and its audio
        prompt (the clip with its holes zeroed when inpainting; the material just before the new part when
        continuing or in later windows; else the plain audio prompt)."""
        geo, ids = self.geometry, self.ids
        inputs: dict[str, Any] = {}
        if ids.text:
            inputs[ids.text] = work.texts
        if ids.video:
            first = int(round(win.start / geo.sample_rate * geo.video_fps))
            inputs[ids.video] = torch.stack([f[first: first + geo.video_frames] for f in work.frames]).float()
        if ids.audio:
            filled, filled_known = work.filled, work.filled_known
            known_end = known_run_end(filled_known, win.start)
            head = slice(win.start, win.start + geo.prompt_samples)
            prompts = []
            for i in range(len(work.texts)):
                if work.request.inpaint:
                    prompts.append(audio_prompt_tensor(filled[i, :, head] * filled_known[head].to(filled.dtype), geo))
                elif known_end > win.start:
                    prompts.append(audio_prompt_tensor(filled[i], geo, end=known_end))
                else:
                    prompts.append(audio_prompt_tensor(work.clips[i], geo))
            inputs[ids.audio] = torch.stack(prompts)
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}

    def _window(self, work: _Work, win: Window, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate one window: returns latents (B, D, N) and decoded audio (B, C, window).

        Args:
            mask: (N,) bool, the window's known latent frames (kept through latent replacement).
        """
        from audiox.sampling.registry import sample

        model, ids, req, opts, generator = self.model, self.ids, work.request, self.options, work.generator
        inputs = self._window_inputs(work, win)
        with torch.no_grad():
            cond = model.condition(inputs, sample_audio=True, generator=generator, vae_conv2d=opts.vae_conv2d)
            finite.check_conditions(model, cond, inputs, {ids.audio: "audio", ids.video: "video", ids.text: "text"})
            negative = None
            if any(work.negs) and ids.text:
                neg_tokens, _ = model.conditioner.conditioners[ids.text](work.negs)
                negative = cond.zeros_except({ids.text: neg_tokens})
            denoise = make_denoiser(self._dit, cond.cross_attn_cond, cfg_scale=req.cfg_scale,
                                    scale_phi=req.scale_phi, negative_cond=negative, extra=cond.extras(),
                                    skip_null_cross=opts.skip_null_cross, cache_context=opts.cache_context,
                                    attn_backend=opts.attention)
            if bool(mask.any()):
                denoise = _keep_known(denoise, self._known_latents(work.filled, win), mask.to(self.device))
            shape = (len(work.texts), model.config.latent_dim, self.geometry.window_latents)
            noise = torch.randn(shape, generator=generator).to(self.device)
            lat = sample(req.sampler, denoise, noise, steps=req.steps, sigma_min=req.sigma_min,
                         sigma_max=req.sigma_max, rho=self.defaults.rho, generator=generator, progress=req.progress)
            if not bool(torch.isfinite(lat).all()):
                raise finite.diverged(model, req)
            audio = model.decode(lat, chunk=opts.vae_chunk, conv2d=opts.vae_conv2d).cpu()
            if not bool(torch.isfinite(audio).all()):
                raise finite.diverged(model, req)
        return lat.float().cpu(), audio


@dataclass
class _Work:
    """What the windows of one generation read, and what each extends for the next.

    Attributes:
        request: the resolved request (defaults and seed filled in).
        texts / negs: the items' prompts and negative prompts.
        frames: each item's video frames (T', 3, S, S) for the whole output; None without a video conditioner.
        clips: each item's audio clip (C, L) or None.
        filled: (B, C, T) the kept clip and the windows made so far; filled_known: (T,) bool, which of it is set.
        generator: the one generator of the generation.
    """

    request: GenerationRequest
    texts: list[str]
    negs: list[str]
    frames: list[torch.Tensor] | None
    clips: list[torch.Tensor | None]
    filled: torch.Tensor
    filled_known: torch.Tensor
    generator: torch.Generator


def _keep_known(denoise: Denoiser, x0: torch.Tensor, mask: torch.Tensor) -> Denoiser:
    """Denoiser whose estimate equals ``x0`` on known latent frames (works with every sampler)."""
    m = mask.to(x0.dtype)[None, None, :]

    def wrapped(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return denoise(x, sigma) * (1 - m) + x0.to(x.dtype) * m

    return wrapped


def _dtype_name(module: torch.nn.Module) -> str:
    return str(next(module.parameters()).dtype).removeprefix("torch.")


def _describe(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    return str(value)
