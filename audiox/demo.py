"""Every task once: the outputs of ``audiox demo`` (WAV, spectrogram PNG and, for videos, MP4 per task).

Text-to-audio and text-to-music use fixed prompts; inpainting and continuation rework those two results.
Video-to-audio and image-to-audio use the example clip shipped beside a model (``examples/video.mp4`` and
``examples/image.png``, from the corpus the built-in model was trained on) and, when given, another video (outside
that domain: ``video_to_audio_real``; without an example clip, its frame at 2 s is the image-to-audio input).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TEXT_TO_AUDIO = "Heavy rain falls while a siren wails."
TEXT_TO_MUSIC = "A cheerful piano melody in C major at 120 BPM."


def still_frame(video: str | Path, out: str | Path) -> Path:
    """Write the frame at 2 s of ``video`` (224 px) as a PNG; returns its path.

    Args:
        video: a video file.
        out: the PNG to write.
    """
    from PIL import Image

    from audiox.media import read_video_frames

    frame = read_video_frames(video, fps=1.0, seconds=1.0, start=2.0, size=224)[0]
    Image.fromarray(frame.permute(1, 2, 0).numpy()).save(out)
    return Path(out)


def run_demo(pipe: Any, out: str | Path, *, examples: str | Path | None = None, video: str | Path | None = None,
             steps: int | None = None, seed: int = 0, progress: bool = True) -> list[Path]:
    """Run every task once with ``pipe`` and write the results into ``out`` (created).

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        out: output folder; files are named by task (``text_to_audio.wav``, ``.png``, ``video_to_audio.mp4``, ...).
        examples: folder with ``video.mp4`` and ``image.png`` in the model's domain (None: no such clip).
        video: another video for video-to-audio (None: none).
        steps: sampler steps (None: the model's).
        seed: generation seed of every task.
        progress: show the sampler's progress bars.

    Returns:
        The written files, in the order written.
    """
    from audiox.media import save_spectrogram

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(steps=steps, seed=seed, progress=progress)
    rate = pipe.geometry.sample_rate
    written: list[Path] = []

    def emit(name: str, result: Any, **save_kw: Any) -> None:
        written.append(result.save(out / f"{name}.wav", **save_kw))
        written.append(save_spectrogram(out / f"{name}.png", result.audio[0], result.sample_rate))
        if save_kw.get("mux_out"):
            written.append(Path(save_kw["mux_out"]))

    t2a = pipe(TEXT_TO_AUDIO, **kw)
    emit("text_to_audio", t2a)
    t2m = pipe(TEXT_TO_MUSIC, **kw)
    emit("text_to_music", t2m)
    own_video = Path(examples) / "video.mp4" if examples is not None else None
    if own_video is not None and own_video.is_file():
        emit("video_to_audio", pipe(video=own_video, **kw), mux_video=own_video, mux_out=out / "video_to_audio.mp4")
        emit("image_to_audio", pipe(image=Path(examples) / "image.png", **kw))
    else:
        own_video = None
    if video is not None:
        name = "video_to_audio_real" if own_video is not None else "video_to_audio"
        emit(name, pipe(video=video, **kw), mux_video=video, mux_out=out / f"{name}.mp4")
        if own_video is None:
            frame = still_frame(video, out / "image.png")
            written.append(frame)
            emit("image_to_audio", pipe(image=frame, **kw))
    elif own_video is None:
        log.warning("no example clip and no video: skipping video-to-audio and image-to-audio")
    clip = t2a.audio[0]
    sec = clip.shape[-1] / rate
    emit("inpainting", pipe(TEXT_TO_AUDIO, audio=clip, inpaint=[(sec / 3, 2 * sec / 3)], **kw))
    music = t2m.audio[0]
    emit("continuation", pipe(TEXT_TO_MUSIC, audio=music, continue_audio=True,
                              seconds=1.5 * music.shape[-1] / rate, **kw))
    return written
