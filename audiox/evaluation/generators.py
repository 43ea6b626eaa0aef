"""SynthBench generators: callables ``fn(entry, case) -> (audio (C, T), sample_rate)`` that the runner scores.

- :func:`oracle_generator`: the real held-out clip (the best possible model);
- :func:`noise_generator`: white noise (the floor);
- :func:`vae_oracle_generator`: the real clip through a model's VAE (the ceiling of its DiT);
- :func:`pipeline_generator`: a model, through an :class:`audiox.pipeline.AudioXPipeline`.

The pipeline is passed in, never imported: evaluation stays below the pipeline in the layering.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from audiox.data.manifest import ManifestEntry
from audiox.evaluation.classifier import load_clip
from audiox.evaluation.synthbench import Case, Generator


def oracle_generator(root: str | Path) -> Generator:
    """A generator that returns the entry's real clip for every case (the best possible model).

    Args:
        root: corpus folder (holds ``manifest.jsonl`` and the media).
    """
    root = Path(root)

    def generate(entry: ManifestEntry, case: Case) -> tuple[torch.Tensor, int]:
        return load_clip(root, entry), entry.sample_rate

    return generate


def noise_generator(seed: int = 0, *, amplitude: float = 0.1, sample_rate: int = 44100) -> Generator:
    """A generator of stereo white noise (the same noise for every case of an entry; seeded by the entry id).

    Args:
        seed: noise seed (combined with each entry id).
        amplitude: standard deviation of the noise.
        sample_rate: Hz.
    """

    def generate(entry: ManifestEntry, case: Case) -> tuple[torch.Tensor, int]:
        digest = int(hashlib.sha256(f"{seed}:{entry.id}".encode()).hexdigest()[:12], 16)
        gen = torch.Generator().manual_seed(digest)
        n = int(round(case.seconds * sample_rate))
        return amplitude * torch.randn(2, n, generator=gen), sample_rate

    return generate


def vae_oracle_generator(pipe: Any, root: str | Path) -> Generator:
    """A generator returning the real clip encoded and decoded by the pipeline's VAE (posterior mean).

    Args:
        pipe: an AudioXPipeline (its ``model.pretransform`` and ``geometry`` are used).
        root: corpus folder.
    """
    from audiox.media import load_audio

    vae = pipe.model.pretransform
    rate, channels = pipe.geometry.sample_rate, pipe.geometry.channels
    hop = vae.model.downsampling_ratio

    def generate(entry: ManifestEntry, case: Case) -> tuple[torch.Tensor, int]:
        clip = load_audio(Path(root) / entry.audio, sample_rate=rate, channels=channels)
        n = clip.shape[-1]
        pad = (-n) % hop
        x = torch.nn.functional.pad(clip, (0, pad))[None].to(next(vae.parameters()))
        with torch.no_grad():
            y = vae.decode(vae.encode(x))
        return y[0, :, :n].float().cpu(), rate

    return generate


def pipeline_generator(pipe: Any, *, steps: int | None, seed: int) -> Generator:
    """Wrap an AudioXPipeline as a generator: each case's inputs become the pipeline's arguments.

    Inpainting passes ``inpaint=spans``; continuation passes the clip up to the first span with
    ``continue_audio=True``.

    Args:
        pipe: an AudioXPipeline.
        steps: sampler steps (None: the model's).
        seed: generation seed (the same for every case).
    """
    from audiox.media import load_audio

    rate, channels = pipe.geometry.sample_rate, pipe.geometry.channels

    def generate(entry: ManifestEntry, case: Case) -> tuple[torch.Tensor, int]:
        kwargs: dict[str, Any] = {"text": case.text, "seconds": case.seconds, "steps": steps, "seed": seed,
                                  "music": entry.kind == "music"}
        if case.video is not None:
            kwargs["video"] = str(case.video)
        if case.image is not None:
            kwargs["image"] = str(case.image)
        if case.audio is not None and case.mode == "inpaint":
            kwargs["audio"] = str(case.audio)
            kwargs["inpaint"] = [tuple(s) for s in case.spans]
        elif case.audio is not None and case.mode == "continue":
            kwargs["audio"] = load_audio(case.audio, sample_rate=rate, channels=channels,
                                         duration=case.spans[0][0])
            kwargs["continue_audio"] = True
        out = pipe(**kwargs)
        return out.audio[0].float().cpu(), out.sample_rate

    return generate
