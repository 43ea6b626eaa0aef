"""One generation request of the web page: form values in, result files out (no Gradio here).

The values become a :class:`audiox.pipeline.request.GenerationRequest` as in ``audiox generate``:
:func:`audiox.pipeline.jobs.parse_job` makes it (its constructor checks every value) and
:func:`~audiox.pipeline.jobs.check_jobs` checks the media, both naming fields by the page's labels
(:func:`page_name`); :func:`~audiox.pipeline.jobs.run_jobs` generates and writes the WAV, the JSON sidecar and the
MP4 with the video's new soundtrack, and :func:`audiox.media.save_spectrogram` draws the spectrogram. The page shows
the sidecar from memory. Uploads are checked first (:mod:`audiox.ui.uploads`); a refused one is deleted.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import AudioXError, InputError
from audiox.pipeline.settings import Limits
from audiox.ui.uploads import DEFAULT_UPLOAD_LIMITS, KINDS, UploadLimits, accept_upload

# bounds of one request from the page or its API (the page's sliders stop at the same values)
PAGE_LIMITS = Limits(seconds=30.0, steps=200, cfg_scale=30.0)
PAGE_SEED_MAX = 2**53 - 1  # larger integers are not exact in a browser's numbers; random seeds stay below
KEEP_RESULTS = 64  # result folders kept under the results folder; older ones are deleted
# request fields -> the names of the page's controls ("": the page cannot lift its limits, so no hint)
_LABELS = {"seconds": "duration", "cfg_scale": "guidance scale", "inpaint": "inpaint ranges",
           "continue_audio": "continue", "negative_text": "negative text", "video_start": "video start", "limits": ""}


@dataclass(frozen=True)
class PageResult:
    """The files of one request (all inside its own result folder) and the settings sidecar's content."""

    wav: Path
    spectrogram: Path
    settings: dict[str, Any]
    video: Path | None

    @property
    def seed(self) -> int:
        return int(self.settings["seed"])


def split_ranges(text: str | None) -> list[str] | None:
    """``"1-2, 3.5-4"`` (commas, semicolons or spaces between ranges) -> ``["1-2", "3.5-4"]``; blank -> None."""
    if text is None or not str(text).strip():
        return None
    return [r for r in re.split(r"[,;\s]+", str(text).strip()) if r]


def page_name(field: str) -> str:
    """The page's label of a request field (``cfg_scale`` -> ``guidance scale``): how its messages name it."""
    return _LABELS.get(field, field)


def new_result_folder(results: Path, keep: int = KEEP_RESULTS) -> Path:
    """Create a fresh folder under ``results`` and delete the oldest ones beyond ``keep``.

    Args:
        results: the folder holding one sub-folder per request.
        keep: how many folders stay (the newest, this one included).
    """
    results.mkdir(parents=True, exist_ok=True)
    folder = results / f"{time.time_ns():020d}-{secrets.token_hex(4)}"
    folder.mkdir()
    old = sorted(p for p in results.iterdir() if p.is_dir())[:-keep]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return folder


def run_request(pipe: Any, source: Any, values: dict[str, Any], *, uploads_root: Path, results: Path,
                upload_limits: UploadLimits = DEFAULT_UPLOAD_LIMITS, limits: Limits = PAGE_LIMITS,
                progress: bool = True) -> PageResult:
    """Check one request of the page, generate, and write its files into a new folder under ``results``.

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        source: its :class:`audiox.pipeline.source.ModelSource` (config and defaults, for the job checks).
        values: the form: text, negative, video, image, audio (upload payloads), inpaint ("1-2, 3-4"),
            continue_audio, music, seconds, steps, cfg_scale, sampler, seed (None: a fresh one, at most
            :data:`PAGE_SEED_MAX`).
        uploads_root: the folder uploads must lie in (the app's temporary folder).
        results: where result folders are made.
        upload_limits: size and length bounds of uploads.
        limits: bounds on the work of the request.
        progress: the sampler's progress bars (the page follows them).

    Raises:
        AudioXError: a message for the page; a refused upload has been deleted.
    """
    from audiox.pipeline.jobs import check_jobs, parse_job, run_jobs

    uploads = {kind: accept_upload(values.get(kind), uploads_root, kind, sample_rate=pipe.geometry.sample_rate,
                                   limits=upload_limits) for kind in KINDS}
    files = {kind: u for kind, u in uploads.items() if u is not None}
    names = {str(u.path): u.name for u in files.values()}
    folder = new_result_folder(results)
    seed = values.get("seed")
    seed = secrets.randbelow(PAGE_SEED_MAX + 1) if seed is None else seed
    raw = {"text": _blank_to_none(values.get("text")), "negative": _blank_to_none(values.get("negative")),
           **{kind: str(u.path) for kind, u in files.items()}, "inpaint": split_ranges(values.get("inpaint")),
           "continue": bool(values.get("continue_audio")), "music": bool(values.get("music")),
           "seconds": values.get("seconds"), "steps": _integer(values.get("steps"), "steps"),
           "cfg_scale": values.get("cfg_scale"), "sampler": values.get("sampler") or None,
           "seed": _integer(seed, "seed"), "out": str(folder / "audiox.wav"),
           "mux": str(folder / "audiox.mp4") if "video" in files else None}
    try:
        job = parse_job(raw, name=page_name, limits=limits, progress=progress)
        check_jobs([job], source, name=page_name)
    except AudioXError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise type(e)(_rename(str(e), names)) from None
    from audiox.media import save_spectrogram

    _, result = next(run_jobs(pipe, [job]))
    spectrogram = save_spectrogram(folder / "audiox.png", result.audio[0], result.sample_rate)
    return PageResult(job.out, spectrogram, result.sidecar(), job.mux)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _integer(value: Any, name: str) -> Any:
    """A whole float from a number box or slider (``8.0``) -> ``8``; other values go to the checks as they are."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, float):
        raise InputError(f"{name}: expected a whole number, got {value:g}")
    return value


def _rename(message: str, names: dict[str, str]) -> str:
    for path, name in names.items():
        message = message.replace(path, name)
    return message

