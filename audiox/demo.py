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


def planned_files(out: str | Path, *, example_clip: bool, video: bool) -> list[Path]:
    """Every file :func:`run_demo` writes into ``out``, in the order written (checked before the first is written).

    Args:
        out: the output folder.
        example_clip: the model ships ``examples/video.mp4`` and ``examples/image.png``.
        video: another video is given.
    """
    out = Path(out)
    tasks: list[tuple[str, bool]] = [("text_to_audio", False), ("text_to_music", False)]  # (name, muxed)
    if example_clip:
        tasks += [("video_to_audio", True), ("image_to_audio", False)]
    if video:
        tasks.append(("video_to_audio_real" if example_clip else "video_to_audio", True))
        if not example_clip:
            tasks.append(("image", False))  # the still frame, then image-to-audio from it
            tasks.append(("image_to_audio", False))
    tasks += [("inpainting", False), ("continuation", False)]
    files: list[Path] = []
    for name, muxed in tasks:
        if name == "image":
            files.append(out / "image.png")
            continue
        files += [out / f"{name}.wav", out / f"{name}.json"] + ([out / f"{name}.mp4"] if muxed else [])
        files.append(out / f"{name}.png")
    return files


def check_inputs(examples: str | Path | None, video: str | Path | None) -> bool:
    """Check the demo's videos and image before anything is written or loaded; returns whether the example clip
    is there.

    Args:
        examples: the model's ``examples/`` folder (None: none).
        video: another video (None: none).

    Raises:
        MediaError: a video that does not decode or cannot be copied into an MP4, a missing example image.
    """
    from audiox.media import check_muxable, check_video, load_image_as_video

    own = Path(examples) / "video.mp4" if examples is not None else None
    has_clip = own is not None and own.is_file()
    for v in ([own] if has_clip else []) + ([Path(video)] if video is not None else []):
        check_video(v)
        check_muxable(v, "demo.mp4")
    if has_clip:
        load_image_as_video(Path(examples) / "image.png", n_frames=1, size=8)
    return has_clip


def still_frame(video: str | Path, out: str | Path) -> Path:
    """Write a frame of ``video`` (224 px) as a PNG: the one at 2 s, or the middle one of a shorter video.

    Args:
        video: a video file.
        out: the PNG to write.

    Returns:
        ``Path(out)``.
    """
    from PIL import Image

    from audiox.media import check_video, read_video_frames
    from audiox.utils.files import atomic_write

    at = min(2.0, check_video(video).frames_end / 2)
    frame = read_video_frames(video, fps=1.0, seconds=1.0, start=at, size=224)[0]
    image = Image.fromarray(frame.permute(1, 2, 0).numpy())
    return atomic_write(out, lambda tmp: image.save(tmp, format="PNG"))


def run_demo(pipe: Any, out: str | Path, *, examples: str | Path | None = None, video: str | Path | None = None,
             steps: int | None = None, seed: int = 0, progress: bool = True) -> list[Path]:
    """Run every task once with ``pipe`` and write the results into ``out`` (created), after :func:`check_inputs`.

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        out: output folder; files are named by task (``text_to_audio.wav``, ``.png``, ``video_to_audio.mp4``, ...).
        examples: folder with ``video.mp4`` and ``image.png`` in the model's domain (None: no such clip).
        video: another video for video-to-audio (None: none).
        steps: sampler steps (None: the model's).
        seed: generation seed of every task.
        progress: show the sampler's progress bars.

    Returns:
        The written files, in the order written (:func:`planned_files`).
    """
    from audiox.media import save_spectrogram

    check_inputs(examples, video)  # a bad video is refused before the first file is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(steps=steps, seed=seed, progress=progress)
    rate = pipe.geometry.sample_rate
    written: list[Path] = []

    def emit(name: str, result: Any, **save_kw: Any) -> None:
        wav = result.save(out / f"{name}.wav", **save_kw)
        written.extend([wav, wav.with_suffix(".json")])
        if save_kw.get("mux_out"):
            written.append(Path(save_kw["mux_out"]))
        written.append(save_spectrogram(out / f"{name}.png", result.audio[0], result.sample_rate))

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
