"""``AudioXPipeline``: anything-to-audio generation with one call.

Text, video, image and audio prompts in any combination; negative prompts; inpainting of time ranges;
continuation of a clip; outputs longer than the model window (overlapping windows, each conditioned on the
previous one through the audio prompt and on its own slice of the video).
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

import torch

from audiox.errors import InputError
from audiox.geometry import Geometry
from audiox.models.audiox import AudioXModel
from audiox.models.autoencoder import set_conv2d
from audiox.models.diffusion import make_denoiser
from audiox.pipeline import finite
from audiox.pipeline.inputs import (
    DEFAULT_VIDEO_PROMPTS,
    ConditionerIds,
    as_list,
    audio_prompt_tensor,
    batch_size_of,
    check_geometry,
    check_text,
    conditioner_ids,
    load_audio_clip,
    load_video_prompt,
    output_samples,
    parse_ranges,
)
from audiox.pipeline.output import AudioOutput
from audiox.pipeline.settings import (
    DEFAULT_LIMITS,
    FAST_RUN,
    Limits,
    RunOptions,
    SamplerSettings,
    check_sampling,
    check_seconds,
    fast_settings,
)
from audiox.pipeline.source import ModelSource, builtin_model_dir, inspect_model
from audiox.pipeline.windows import (
    crossfade_paste,
    known_latent_mask,
    known_run_end,
    plan_windows,
    restore_known,
)
from audiox.utils import checks

log = logging.getLogger(__name__)

__all__ = ["AudioXPipeline", "SamplerSettings", "builtin_model_dir"]


class AudioXPipeline:
    """Generation front end around an :class:`AudioXModel`.

    Args:
        model: a loaded model (eval mode).
        device: where to run (default: the model's device).
        defaults: sampler defaults for this model.
        source: where the model came from (recorded in the settings sidecar).
        options: the fast path's switches (:class:`RunOptions`; ``REFERENCE_RUN`` is the official order).
    """

    def __init__(self, model: AudioXModel, *, device: str | torch.device | None = None,
                 defaults: SamplerSettings | None = None, source: str = "", options: RunOptions = FAST_RUN) -> None:
        self.model = model.eval()
        self.options = options
        model.dit.attn_backend = options.attention
        set_conv2d(model, options.vae_conv2d)
        self._dit = torch.compile(model.dit) if options.compile else model.dit
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.defaults = defaults or SamplerSettings()
        self.geometry: Geometry = model.config.geometry
        self.ids: ConditionerIds = conditioner_ids(model)
        check_geometry(model, self.geometry)
        self.source = source
        self.overlap_seconds = min(2.0, self.geometry.window_seconds / 4)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | ModelSource | None = None, *,
                        device: str | torch.device | None = None, dtype: torch.dtype | None = None,
                        vae_dtype: torch.dtype | None = None, text_encoder_path: str | os.PathLike | None = None,
                        options: RunOptions = FAST_RUN, fast: bool = False) -> AudioXPipeline:
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
            fast: the few-step preset (:data:`audiox.pipeline.settings.FAST_PRESET`) as the sampler defaults, and
                unless given, ``dtype`` and ``vae_dtype`` bf16 where the device has bf16 instructions
                (:func:`audiox.utils.dtypes.fast_dtype`).
        """
        from audiox.checkpoint.official import dtype_plan, load_model

        source = path if isinstance(path, ModelSource) else inspect_model(path, text_encoder_path=text_encoder_path)
        checks.device(None if device is None else str(device), "device")
        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        defaults = source.defaults
        if fast:
            from audiox.utils.dtypes import fast_dtype, torch_dtype

            dtype = dtype or torch_dtype(fast_dtype(dev.type))
            vae_dtype = vae_dtype or dtype
            defaults = fast_settings(defaults)
        plan = lambda cfg: dtype_plan(cfg, dtype or torch.float32, vae_dtype or torch.float32)  # noqa: E731
        model = load_model(source.path, device=dev, dtype=plan, text_encoder_path=text_encoder_path,
                           require_text_encoder=True)
        return cls(model, device=dev, defaults=defaults, source=str(source.path), options=options)

    # ----------------------------------------------------------------------------------------------
    def __call__(
        self, text: str | list[str] | None = None, *, video: Any = None, image: Any = None, audio: Any = None,
        negative_text: str | list[str] | None = None, seconds: float | None = None,
        inpaint: list[tuple[float, float]] | list[str] | None = None, continue_audio: bool = False,
        music: bool = False, video_start: float = 0.0, steps: int | None = None, cfg_scale: float | None = None,
        sampler: str | None = None, sigma_min: float | None = None, sigma_max: float | None = None,
        scale_phi: float | None = None, seed: int | None = None, generator: torch.Generator | None = None,
        progress: bool = False, limits: Limits = DEFAULT_LIMITS,
    ) -> AudioOutput:
        """Generate audio.

        Args:
            text: prompt(s). With a video/image and no text, the official video prompt is used
                ("Generate general audio for the video", or "... music ..." with ``music=True``).
            video: video path or frames (T, 3, S, S) 0..255; image: image path or (3, S, S) frames; a list of
                either gives a batch.
            audio: audio path or (C, L) tensor at the model rate: the audio prompt, and the clip to inpaint or
                continue.
            negative_text: what to steer away from (replaces the text of the unconditional branch).
            seconds: output length (default: one model window; for inpainting, the clip length).
            inpaint: time ranges (seconds) of ``audio`` to regenerate; the rest is kept.
            continue_audio: extend ``audio``: its samples are kept and the rest up to ``seconds`` is generated.
            steps, cfg_scale, sampler, sigma_min, sigma_max, scale_phi: sampler settings (defaults: the model's).
            seed / generator: randomness. Everything random draws from one generator made from one seed, and the
                settings record that seed, so ``seed=out.settings["seed"]`` reproduces the output. The seed is
                given, or drawn from ``generator``, or fresh when both are None.
            progress: show progress bars.
            limits: bounds on steps, guidance and output length (``settings.NO_LIMITS`` lifts them).

        Returns:
            :class:`AudioOutput` with audio (B, C, T).
        """
        d = self.defaults
        steps = d.steps if steps is None else steps
        cfg_scale = d.cfg_scale if cfg_scale is None else cfg_scale
        sampler = d.sampler if sampler is None else sampler
        sigma_min = d.sigma_min if sigma_min is None else sigma_min
        sigma_max = d.sigma_max if sigma_max is None else sigma_max
        scale_phi = d.scale_phi if scale_phi is None else scale_phi
        # 1. Check inputs
        check_sampling(steps=steps, cfg_scale=cfg_scale, sampler=sampler, sigma_min=sigma_min, sigma_max=sigma_max,
                       scale_phi=scale_phi, limits=limits)
        if seconds is not None:
            check_seconds("seconds", seconds, limits)
        if seed is not None:
            checks.seed("seed", seed)
        video_start = checks.number("video_start", video_start, lo=0)
        if (inpaint or continue_audio) and audio is None:
            raise InputError("inpaint / continue need an audio clip (audio=...)")
        if inpaint and continue_audio:
            raise InputError("choose inpaint or continue, not both")
        geo, ids = self.geometry, self.ids
        b = batch_size_of(text, video, image, audio)
        texts = [check_text(t) for t in as_list(text, b, "text")]
        negs = [check_text(t, "negative_text") for t in as_list(negative_text, b, "negative_text")]
        videos, images = as_list(video, b, "video"), as_list(image, b, "image")
        for i in range(b):
            if text is None and (videos[i] is not None or images[i] is not None):
                texts[i] = DEFAULT_VIDEO_PROMPTS["music" if music else "audio"]
        clips = [load_audio_clip(a, geo) for a in as_list(audio, b, "audio")]
        # 2. Canvas: total length and the known (kept) samples
        total, known, reference = self._canvas(clips, seconds, inpaint, continue_audio)
        check_seconds("audio", total / geo.sample_rate, limits, what="the output")
        # 3. Randomness: one recorded seed makes the one generator everything below draws from
        if seed is not None and generator is not None:
            raise InputError("give seed or generator, not both")
        if seed is None:
            seed = secrets.randbits(63) if generator is None else int(torch.randint(0, 2**63 - 1, (1,),
                                                                                     generator=generator))
        generator = torch.Generator().manual_seed(seed)
        settings = dict(text=texts, negative_text=negative_text and negs, video=_describe(video),
                        image=_describe(image), audio=_describe(audio), seconds=total / geo.sample_rate,
                        inpaint=[list(r) for r in parse_ranges(inpaint, 1e9)], continue_audio=continue_audio,
                        video_start=video_start, steps=steps, cfg_scale=cfg_scale, sampler=sampler,
                        sigma_min=sigma_min, sigma_max=sigma_max, rho=d.rho, scale_phi=scale_phi, seed=seed,
                        model=self.source, dtype=_dtype_name(self.model.dit),
                        vae_dtype=_dtype_name(self.model.pretransform.model.decoder))
        run = SamplerSettings(steps=steps, cfg_scale=cfg_scale, sampler=sampler, sigma_min=sigma_min,
                              sigma_max=sigma_max, rho=d.rho, scale_phi=scale_phi)
        # 4. Video frames, decoded once for the whole output (each window takes its own slice)
        frames = None
        if ids.video:
            need = total / geo.sample_rate + geo.video_seconds
            frames = [load_video_prompt(videos[i], images[i], geo, start=video_start, seconds=need,
                                        cover=total / geo.sample_rate) for i in range(b)]
        # 5. Windows. Each reads and writes only its own span (and the audio prompt just before it), so the work
        # is linear in the output length; a window whose every latent frame is known is not sampled.
        canvas = torch.zeros(b, geo.channels, total)
        filled, filled_known = reference.clone(), known.clone()  # what the next window keeps: clip + earlier windows
        latents_out = []
        overlap_samples = max(1, round(self.overlap_seconds * geo.sample_rate / geo.hop)) * geo.hop
        windows = plan_windows(total, geo.sample_size, min(overlap_samples, geo.sample_size // 2))
        from tqdm.auto import tqdm

        for k, win in enumerate(tqdm(windows, desc="windows", disable=not progress or len(windows) == 1)):
            end = min(win.start + win.length, total)
            mask = known_latent_mask(filled_known, win.start, geo.window_latents, geo.hop)
            if bool(mask.all()):  # nothing to generate here: the known audio and its latents
                lat, out = self._known_latents(filled, win), filled[..., win.start:end].clone()
            else:
                lat, out = self._window(win, texts, negs, frames, clips, filled, filled_known, mask,
                                        inpainting=bool(inpaint), run=run, generator=generator, progress=progress)
            overlap = 0 if k == 0 else windows[k - 1].start + windows[k - 1].length - win.start
            crossfade_paste(canvas, out, win.start, overlap)
            latents_out.append(lat[..., overlap // geo.hop:])  # the part no earlier window produced
            span = slice(win.start, end)  # the only canvas samples this window changed
            filled[..., span] = torch.where(known[span], reference[..., span], canvas[..., span])
            filled_known[span] = True
        keeps = bool(known.any())
        if keeps:
            canvas = restore_known(canvas, reference, known, int(0.02 * geo.sample_rate))
        latents = torch.cat(latents_out, dim=-1)[..., : -(-total // geo.hop)]
        return AudioOutput(canvas, geo.sample_rate, latents, settings, keeps_input_audio=keeps)

    # ----------------------------------------------------------------------------------------------
    def _canvas(self, clips: list[torch.Tensor | None], seconds: float | None, inpaint: Any, continue_audio: bool,
                ) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Total samples, known-sample mask (T,), and the reference audio (B, C, T) holding the caller's clip."""
        geo = self.geometry
        sr = geo.sample_rate
        lens = {c.shape[-1] for c in clips if c is not None}
        if (inpaint or continue_audio) and (len(lens) != 1 or any(c is None for c in clips)):
            raise InputError("inpaint / continue need one audio clip length for the whole batch")
        clip_len = lens.pop() if lens else 0
        ranges = parse_ranges(inpaint, clip_len / sr) if inpaint else []
        total = output_samples(clip_len, seconds, inpaint=bool(inpaint), continue_audio=continue_audio, geo=geo)
        known = torch.zeros(total, dtype=torch.bool)
        reference = torch.zeros(len(clips), geo.channels, total)
        if inpaint or continue_audio:
            for i, c in enumerate(clips):
                reference[i, :, :clip_len] = c[:, :total]
            known[:clip_len] = True
            for s, e in ranges:
                known[int(round(s * sr)): int(round(e * sr))] = False
        return total, known, reference

    def _known_latents(self, filled: torch.Tensor, win) -> torch.Tensor:
        """The main VAE's latents (B, D, N) of the window's known audio (one window of samples, zero-padded)."""
        seg = filled[..., win.start: win.start + win.length]
        seg = torch.nn.functional.pad(seg, (0, win.length - seg.shape[-1]))
        x0 = self.model.encode(seg.to(self.device))[..., : self.geometry.window_latents]
        finite.check_encoded(self.model, x0, seg)
        return x0

    def _window(self, win, texts, negs, frames: list[torch.Tensor] | None, clips, filled: torch.Tensor, filled_known,
                mask: torch.Tensor, *, inpainting: bool, run: SamplerSettings, generator: torch.Generator,
                progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate one window: returns latents (B, D, N) and decoded audio (B, C, window).

        Args:
            mask: (N,) bool, the window's known latent frames (kept through latent replacement).
        """
        from audiox.sampling.registry import sample

        geo, ids, model = self.geometry, self.ids, self.model
        b = len(texts)
        n_lat = geo.window_latents
        t0 = win.start / geo.sample_rate
        inputs: dict[str, Any] = {}
        if ids.text:
            inputs[ids.text] = texts
        if ids.video:
            first = int(round(t0 * geo.video_fps))  # this window's slice of the (pre-decoded) video
            inputs[ids.video] = torch.stack([f[first: first + geo.video_frames] for f in frames]).float()
        if ids.audio:
            prompts = []
            known_end = known_run_end(filled_known, win.start)
            head = slice(win.start, win.start + geo.prompt_samples)
            for i in range(b):
                if inpainting:  # the clip with its holes zeroed, from the window start
                    masked = filled[i, :, head] * filled_known[head].to(filled.dtype)
                    prompts.append(audio_prompt_tensor(masked, geo))
                elif known_end > win.start:  # continuation / later windows: the material just before the new part
                    prompts.append(audio_prompt_tensor(filled[i], geo, end=known_end))
                else:  # a plain audio prompt (or none)
                    prompts.append(audio_prompt_tensor(clips[i], geo))
            inputs[ids.audio] = torch.stack(prompts)
        dev = self.device
        inputs = {k2: v.to(dev) if isinstance(v, torch.Tensor) else v for k2, v in inputs.items()}
        with torch.no_grad():
            cond = model.condition(inputs, sample_audio=True, generator=generator)
            finite.check_conditions(model, cond, inputs, {ids.audio: "audio", ids.video: "video", ids.text: "text"})
            negative = None
            if any(negs) and ids.text:
                neg_tokens, _ = model.conditioner.conditioners[ids.text](negs)
                negative = cond.zeros_except({ids.text: neg_tokens})
            opts = self.options
            denoise = make_denoiser(self._dit, cond.cross_attn_cond, cfg_scale=run.cfg_scale,
                                    scale_phi=run.scale_phi, negative_cond=negative, extra=cond.extras(),
                                    skip_null_cross=opts.skip_null_cross, cache_context=opts.cache_context)
            if bool(mask.any()):
                denoise = _keep_known(denoise, self._known_latents(filled, win), mask.to(dev))
            noise = torch.randn(b, model.config.latent_dim, n_lat, generator=generator).to(dev)
            noise_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            lat = sample(run.sampler, denoise, noise, steps=run.steps, sigma_min=run.sigma_min,
                         sigma_max=run.sigma_max, rho=run.rho, seed=noise_seed, progress=progress)
            if not bool(torch.isfinite(lat).all()):
                raise finite.diverged(self.model, run)
            audio = model.decode(lat, chunk=opts.vae_chunk).cpu()
            if not bool(torch.isfinite(audio).all()):
                raise finite.diverged(self.model, run)
        return lat.float().cpu(), audio


def _keep_known(denoise, x0: torch.Tensor, mask: torch.Tensor):
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
