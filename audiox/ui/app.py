"""The web page: :func:`build_app` lays out the controls of every task and wires them to one generation handler.

No model lives in this module: the app is built around the pipeline it is given, and Gradio is imported inside
the functions. The handlers take the raw upload payloads (``preprocess=False``) so that every upload passes the
checks of :mod:`audiox.ui.uploads`, whose messages (and every other :class:`AudioXError`) appear in the page as an
error box; any other failure is logged on the server and shown as one line, never as a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from audiox.errors import AudioXError
from audiox.ui.generate import PAGE_LIMITS, PAGE_SEED_MAX, new_result_folder, run_request
from audiox.ui.ranges import add_click, draw_picker
from audiox.ui.uploads import DEFAULT_UPLOAD_LIMITS, UploadLimits, accept_upload

log = logging.getLogger(__name__)

TITLE = "AudioX: anything to audio"
INTRO = ("Describe a sound, or give a video, an image or an audio clip (or several), then **Generate**. "
         "Give an audio clip with inpaint ranges to regenerate parts of it, or tick *continue* to extend it.")
BUSY = "This application is currently busy"  # Gradio's page message when the queue refuses a request
INTERNAL_ERROR = "generation failed with an internal error (details are in the server's log)"


class InFlight:
    """Counts the generations running now, so that a stopping server can let them finish first (a generation
    cannot be interrupted, and ending the interpreter under a running one aborts the process)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        with self._idle:
            self._count += 1
        try:
            yield
        finally:
            with self._idle:
                self._count -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until none runs, at most ``timeout`` seconds; returns whether none runs."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


def page_error(message: str) -> Exception:
    """The exception that shows ``message`` in the page (and to API clients), without a traceback."""
    import gradio as gr

    return gr.Error(message, duration=None, print_exception=False)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with :class:`AudioXError` shown as its message and any other failure logged and shown as one line."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AudioXError as e:
            raise page_error(str(e)) from None
        except Exception:
            log.exception("page request failed")
            raise page_error(INTERNAL_ERROR) from None

    return wrapper


def example_folders(model_dir: Path) -> list[Path]:
    """The example folders that exist: the model's ``examples/`` and the shared media folder (``../shared/media``
    beside the working folder or beside this repository).

    Args:
        model_dir: the model folder.
    """
    repo = Path(__file__).resolve().parents[2]
    found: list[Path] = []
    for folder in (model_dir / "examples", Path.cwd().parent / "shared" / "media", repo.parent / "shared" / "media"):
        if folder.is_dir() and not any(f.resolve() == folder.resolve() for f in found):
            found.append(folder)
    return found


def example_rows(folders: list[Path]) -> list[list[Any]]:
    """Example inputs (``[text, video, image, kind, seconds]``): two text prompts, then the ``video.mp4`` /
    ``image.png`` of each folder and every other ``*.mp4`` in it.

    Args:
        folders: example folders (the built-in model's ``examples/``, the shared media folder); missing ones are
            skipped.
    """
    from audiox.demo import TEXT_TO_AUDIO, TEXT_TO_MUSIC

    rows: list[list[Any]] = [[TEXT_TO_AUDIO, None, None, "sound", 10.0], [TEXT_TO_MUSIC, None, None, "music", 10.0]]
    for folder in folders:
        if not folder.is_dir():
            continue
        for video in sorted(folder.glob("*.mp4")):
            rows.append(["", str(video), None, "sound", 10.0])
        image = folder / "image.png"
        if image.is_file():
            rows.append(["", None, str(image), "sound", 10.0])
    return rows


def build_app(pipe: Any, *, max_queue: int = 16, concurrency: int = 1, source: Any = None, examples: list[Path] = (),
              upload_limits: UploadLimits = DEFAULT_UPLOAD_LIMITS, in_flight: InFlight | None = None) -> Any:
    """The page around ``pipe``: a queued ``gradio.Blocks`` (launch it with :func:`audiox.ui.server.serve`).

    Uploads and results live in Gradio's temporary folder (``GRADIO_TEMP_DIR``, which the server sets to a
    folder of its own): results in ``results/`` (the newest 64 requests), picker pictures in ``pickers/``.

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        max_queue: requests that may wait; one more is refused (Gradio's page then says the app is busy).
        concurrency: generations that run at once (each holds its own activations in memory).
        source: its :class:`audiox.pipeline.source.ModelSource` (None: read from ``pipe``).
        examples: example folders (see :func:`example_rows`).
        upload_limits: size and length bounds of uploads.
        in_flight: counts the running generations (for a clean stop).
    """
    import gradio as gr
    from gradio.utils import get_upload_folder

    from audiox.sampling.registry import SAMPLER_NAMES

    source = source or source_of(pipe)
    root = Path(get_upload_folder())
    results, pickers = root / "results", root / "pickers"
    rate, d = pipe.geometry.sample_rate, pipe.defaults
    in_flight = in_flight or InFlight()

    tracker = gr.Progress(track_tqdm=True)  # follows the sampler's progress bars

    @guarded
    def generate(text: str, negative: str, video: Any, image: Any, audio: Any, inpaint: str, continue_audio: bool,
                 kind: str, seconds: float, steps: float, cfg_scale: float, sampler: str, seed: float | None,
                 random_seed: bool, progress: Any = tracker) -> tuple:
        form = dict(text=text, negative=negative, video=video, image=image, audio=audio, inpaint=inpaint,
                    continue_audio=continue_audio, music=kind == "music", seconds=seconds, steps=steps,
                    cfg_scale=cfg_scale, sampler=sampler, seed=None if random_seed else seed)
        progress(0, desc="checking inputs")
        with in_flight.track():
            res = run_request(pipe, source, form, uploads_root=root, results=results, upload_limits=upload_limits)
        wav = str(res.wav)
        return (wav, wav, str(res.spectrogram), str(res.video) if res.video else None, res.seed, res.settings,
                f"Done: {res.settings['seconds']:.2f} s, seed {res.seed}.")

    @guarded
    def show_picker(audio: Any, ranges: str) -> tuple:
        upload = accept_upload(audio, root, "audio", sample_rate=rate, limits=upload_limits)
        if upload is None:
            return None, None, None
        pic, seconds = draw_picker(upload.path, ranges, new_result_folder(pickers) / "picker.png", sample_rate=rate,
                                   max_seconds=PAGE_LIMITS.seconds)
        return str(pic), [str(pic), seconds], None

    def click(ranges: str, pending: float | None, picture: list | None, evt: gr.SelectData) -> tuple:
        if not picture:
            return ranges, None
        from PIL import Image

        with Image.open(picture[0]) as im:
            width = im.width
        return add_click(ranges, pending, float(evt.index[0]), width, picture[1])

    click.__annotations__["evt"] = gr.SelectData  # a class, not a string: Gradio passes the click by this hint

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        if getattr(pipe, "lora", ()):  # audiox ui --lora: the adapters every request uses
            gr.Textbox(label="LoRA adapters", interactive=False,
                       value=", ".join(f"{s.folder.name or s.folder} x {s.scale:g}" for s in pipe.lora))
        with gr.Row():
            with gr.Column(scale=1):
                text = gr.Textbox(label="Text", lines=2, placeholder="e.g. Heavy rain falls while a siren wails.")
                negative = gr.Textbox(label="Negative text", placeholder="what to steer away from (optional)")
                with gr.Tab("Video"):
                    video = gr.Video(label="Video", sources=["upload"], format=None, include_audio=True,
                                     buttons=["download"], elem_id="input-video")
                with gr.Tab("Image"):
                    image = gr.Image(label="Image", type="filepath", sources=["upload"], buttons=["download"],
                                     elem_id="input-image")
                with gr.Tab("Audio"):
                    audio = gr.Audio(label="Audio prompt / clip to inpaint or continue", type="filepath",
                                     sources=["upload", "microphone"], format=None, buttons=["download"],
                                     elem_id="input-audio")
                    picker = gr.Image(label="Inpaint ranges: click a start and an end on the spectrogram",
                                      interactive=False, height=170, buttons=[], elem_id="picker")
                    inpaint = gr.Textbox(label="Inpaint ranges (seconds)", placeholder="e.g. 2.0-4.5, 7-8")
                    with gr.Row():
                        clear = gr.Button("Clear ranges", size="sm")
                        continue_audio = gr.Checkbox(label="Continue the clip up to the duration", value=False)
                kind = gr.Radio(["sound", "music"], value="sound", label="Sound or music (video/image without text)")
                seconds = gr.Slider(1, PAGE_LIMITS.seconds, value=10, step=0.5, label="Duration (s)")
                with gr.Accordion("Sampler", open=False):
                    steps = gr.Slider(1, PAGE_LIMITS.steps, value=d.steps, step=1, label="Steps")
                    cfg_scale = gr.Slider(0.5, PAGE_LIMITS.cfg_scale, value=d.cfg_scale, step=0.5,
                                          label="Guidance scale")
                    sampler = gr.Dropdown(sorted(SAMPLER_NAMES), value=d.sampler, label="Sampler")
                    with gr.Row():
                        seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=PAGE_SEED_MAX)
                        random_seed = gr.Checkbox(label="Random seed", value=True)
                run = gr.Button("Generate", variant="primary")
                gr.Markdown(queue_note(max_queue, concurrency), elem_id="queue-note")
            with gr.Column(scale=1):
                status = gr.Markdown("", elem_id="status")
                out_audio = gr.Audio(label="Result", type="filepath", interactive=False, buttons=["download"],
                                     elem_id="result-audio")
                out_wav = gr.File(label="Download WAV", interactive=False, elem_id="result-wav")
                out_spec = gr.Image(label="Spectrogram", interactive=False, buttons=["download"],
                                    elem_id="result-spectrogram")
                out_video = gr.Video(label="Video with the new soundtrack", interactive=False,
                                     buttons=["download"], elem_id="result-video")
                out_seed = gr.Number(label="Seed used", interactive=False, precision=0)
                out_settings = gr.JSON(label="Settings (the JSON sidecar)", elem_id="result-settings")
        picture = gr.State(None)
        pending = gr.State(None)
        gr.Examples(example_rows(list(examples)), inputs=[text, video, image, kind, seconds], cache_examples=False)

        inputs = [text, negative, video, image, audio, inpaint, continue_audio, kind, seconds, steps, cfg_scale,
                  sampler, seed, random_seed]
        outputs = [out_audio, out_wav, out_spec, out_video, out_seed, out_settings, status]
        run.click(generate, inputs, outputs, api_name="generate", preprocess=False)
        private = dict(api_visibility="private", concurrency_limit=None, show_progress="hidden")
        audio.change(show_picker, [audio, inpaint], [picker, picture, pending], preprocess=False, **private)
        picker.select(click, [inpaint, pending, picture], [inpaint, pending], **private)
        inpaint.change(show_picker, [audio, inpaint], [picker, picture, pending], preprocess=False, **private)
        clear.click(lambda: "", None, inpaint, **private)
    demo.queue(max_size=max_queue, default_concurrency_limit=concurrency)
    return demo


def queue_note(max_queue: int, concurrency: int) -> str:
    """The line under the button that explains the queue (Gradio's own message for a full queue is terse)."""
    running = "One request runs" if concurrency == 1 else f"{concurrency} requests run"
    return (f"<small>{running} at a time and up to {max_queue} more wait in line (the page shows your place). "
            f"When the line is full, the page answers *{BUSY}*: try again in a moment.</small>")


def source_of(pipe: Any) -> Any:
    """A :class:`ModelSource` describing a loaded pipeline (its config and defaults), for the job checks."""
    from audiox.pipeline.source import ModelSource

    path = Path(pipe.source) if pipe.source and os.path.exists(pipe.source) else Path(".")
    return ModelSource(path, path, pipe.model.config, pipe.defaults)
