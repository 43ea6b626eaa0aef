"""`audiox demo` checks all its inputs and every file it will write before the first output (issue 24, item 5):
``demo --video text.webm`` used to write 13 files before refusing the video.

The model loader is replaced by one that fails the test: every refusal comes before the model loads, and the
harness checks that the folder, the inputs and the model folder are unchanged (tests/cli/harness.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harness import assert_refused, write_video

from audiox.demo import planned_files


@pytest.fixture
def no_model_load(monkeypatch):
    import audiox.pipeline.core as core

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the input was refused")

    monkeypatch.setattr(core.AudioXPipeline, "from_pretrained", classmethod(refuse))


def _model_with_examples(t: Path, model: Path, video: Callable[[Path], object] | None) -> Path:
    """A copy of the debug model folder with an ``examples/`` folder whose video is made by ``video``."""
    folder = t / "m"
    (folder / "examples").mkdir(parents=True)
    for f in model.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    if video is not None:
        video(folder / "examples" / "video.mp4")
    return folder


def _loop(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(path.name)
    return path


Case = Callable[[Path, Path], tuple[list[str], str]]
# id -> builder(case folder, debug model folder) -> (argv after `demo`, piece of the message)
CASES: dict[str, Case] = {
    "video is text": lambda t, M: (["--video", str(_text(t / "text.webm"))], "text.webm"),
    "video VP8 (cannot go into an MP4)": lambda t, M: (
        ["--video", str(write_video(t / "vp8.webm", 3.0, codec="libvpx"))], "cannot be copied into .mp4"),
    "video truncated": lambda t, M: (["--video", str(_cut(write_video(t / "in.mp4", 4.0)))], "in.mp4"),
    "example clip is text": lambda t, M: (["--model", str(_model_with_examples(t, M, _text))], "video.mp4"),
    "example image missing": lambda t, M: (
        ["--model", str(_model_with_examples(t, M, lambda p: write_video(p, 3.0)))], "image.png"),
    "out inside the model folder": lambda t, M: (["--model", str(_model_with_examples(t, M, None)), "--out",
                                                  str(t / "m" / "demo")], "inside the model folder"),
    "out inside the built-in model": lambda t, M: (["--out", str(_builtin() / "demo")], "inside the model folder"),
    "an output is a folder": lambda t, M: ((t / "demo" / "text_to_music.png").mkdir(parents=True) or [],
                                           "text_to_music.png: is a folder"),
    "an output is a symlink loop": lambda t, M: (_loop(t / "demo" / "inpainting.json") and [],
                                                 "symbolic link loop"),
    "steps 1_0": lambda t, M: (["--steps", "1_0"], "--steps: expected an integer"),
    "seed 0_1": lambda t, M: (["--seed", "0_1"], "'_' digit separators"),
}


def _text(path: Path) -> Path:
    path.write_text("this is text, not a video")
    return path


def _cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _builtin() -> Path:
    from audiox.pipeline.source import BUILTIN_DIR

    return BUILTIN_DIR


@pytest.mark.parametrize("case", list(CASES))
def test_demo_refuses_before_writing(case, tmp_path, debug_model_dir, no_model_load):
    argv, expect = CASES[case](tmp_path, debug_model_dir)
    if "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "demo")]
    assert_refused(["demo", *argv], expect, tmp_path, watch=[Path(debug_model_dir), _builtin()])


def test_planned_files_are_what_the_demo_writes(tmp_path, pipe):
    """The list checked up front is the list written, for each combination of example clip and --video."""
    from audiox.demo import run_demo

    video = write_video(tmp_path / "short.mp4", 1.0)  # shorter than 2 s: the still frame is its middle one
    examples = tmp_path / "examples"
    examples.mkdir()
    write_video(examples / "video.mp4", 3.0)
    from PIL import Image

    Image.new("RGB", (16, 16), (200, 30, 30)).save(examples / "image.png")
    for clip, vid in ((False, True), (True, True), (True, False), (False, False)):
        out = tmp_path / f"out-{clip}-{vid}"
        written = run_demo(pipe, out, examples=examples if clip else None, video=video if vid else None, steps=1,
                           progress=False)
        assert written == planned_files(out, example_clip=clip, video=vid)
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
