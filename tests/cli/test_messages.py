"""Messages that tell the truth (issue 24, item 6, generate side): each location once, control characters in file
names escaped, no INFO line before an error unless --verbose, absurd audio named before the model runs, and the
video padding warning counting the requested seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from harness import assert_refused, run_cli, write_video

from audiox.errors import AudioXError

REPO = Path(__file__).resolve().parents[2]
FAST = ["--steps", "2", "--sampler", "euler", "--no-progress"]


def _audiox(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real command line in a fresh interpreter (its own logging set-up, as a user gets it)."""
    return subprocess.run([sys.executable, "-m", "audiox.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("line", [{"video": "nope.mp4"}, {"audio": "nope.wav"}, {"image": "nope.png"},
                                  {"audio": "jobs.jsonl"}, {"text": "x", "seconds": 1e9}])
def test_batch_location_printed_once(tmp_path, monkeypatch, debug_model_dir, line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs.jsonl").write_text(json.dumps({"text": "x"}) + "\n" + json.dumps(line) + "\n")
    res = assert_refused(["generate", "--model", str(debug_model_dir), "--batch", "jobs.jsonl", "--out-dir", "o"],
                         "jobs.jsonl:2:", tmp_path)
    assert res.error_lines[0].count("jobs.jsonl:2") == 1, res.error_lines[0]


@pytest.mark.parametrize("name", ["a\nb.wav", "a\rb.wav", "a\x1b[31mred.wav", "a\u2028b.wav", "tab\there.wav"])
def test_control_characters_in_file_names_are_escaped(tmp_path, debug_model_dir, name):
    """A file name with a newline used to split the error line in two."""
    clip = tmp_path / name
    clip.write_text("not audio")
    for argv in (["--audio", str(clip)], ["--audio", str(tmp_path / ("missing " + name))],
                 ["--text", "x", "-o", str(tmp_path / name[:-4]) + ".mp3"]):
        res = assert_refused(["generate", "--model", str(debug_model_dir), "-o", str(tmp_path / "o.wav"), *argv]
                             if "-o" not in argv else ["generate", "--model", str(debug_model_dir), *argv],
                             "error", tmp_path)
        line = res.error_lines[0]
        assert repr(name[1])[1:-1] in line or name[1] == "b", line  # the character, escaped
        assert all(c not in line for c in "\n\r\x1b\u2028\t")


def test_warnings_are_one_line_each(tmp_path, debug_model_dir):
    """A warning naming a file with a newline (here the video padding warning) stays one line on stderr."""
    video = write_video(tmp_path / "my\nvideo.mp4", 3.0)
    res = _audiox("generate", "--model", str(debug_model_dir), "--video", str(video), "--seconds", "5", "-o",
                  str(tmp_path / "o.wav"), *FAST, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("WARNING audiox.media.video: ") and "my\\nvideo.mp4" in lines[0]


def test_no_info_line_before_an_error_unless_verbose(tmp_path):
    """A refusal after the model loaded (a diverged sampler) used to follow an INFO line of the loader."""
    argv = ["generate", "--text", "x", "--cfg-scale", "1e30", "--no-limits", "-o", str(tmp_path / "o.wav"), *FAST]
    res = _audiox(*argv, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [res.stderr.strip()] and res.stderr.startswith("error: the sampler diverged")
    verbose = _audiox(*argv[:1], "--verbose", *argv[1:], cwd=tmp_path)  # after the command, too
    assert verbose.returncode == 2 and any(ln.startswith("INFO ") for ln in verbose.stderr.splitlines())
    assert list(tmp_path.iterdir()) == []


def test_absurd_audio_is_refused_before_sampling(pipe, monkeypatch):
    """Samples of 1e30 (finite) used to run the model and then blame the guidance scale."""
    monkeypatch.setattr(type(pipe), "_window", lambda *a, **k: pytest.fail("sampling started"))
    clip = torch.full((1, 8000), 0.1)
    clip[0, 100] = 1e30
    with pytest.raises(AudioXError, match=r"audio: samples reach 1e\+30, 600 dB above full scale"):
        pipe("x", audio=clip, steps=2, sampler="euler")


def test_absurd_audio_file_named_before_the_model_loads(tmp_path, debug_model_dir):
    """The same through the command line, as a float WAV, also for inpainting and continuation."""
    x = np.full(16000, 0.1, np.float32)
    x[12000] = 1e30
    sf.write(tmp_path / "loud.wav", x, 8000, subtype="FLOAT")
    for extra in ([], ["--inpaint", "0.1-0.2"], ["--continue"]):
        assert_refused(["generate", "--model", str(debug_model_dir), "--audio", str(tmp_path / "loud.wav"), "-o",
                        str(tmp_path / "o.wav"), *extra], "loud.wav: samples reach 1e+30 at 1.500 s", tmp_path)


@pytest.mark.parametrize("seconds, warned", [("2", None), ("3", None), ("5", "2.0 s of the 5.0 s requested")])
def test_padding_warning_counts_the_requested_seconds(tmp_path, debug_model_dir, seconds, warned):
    """A 3-s video for a 2-s output used to warn that a model window's worth of seconds were filled."""
    video = write_video(tmp_path / "in.mp4", 3.0)
    res = run_cli(["generate", "--model", str(debug_model_dir), "--video", str(video), "--seconds", seconds, "-o",
                   str(tmp_path / "o.wav"), *FAST])
    assert res.code == 0, res.stderr
    filled = [ln for ln in res.stderr.splitlines() if "filled with its last frame" in ln]
    if warned is None:
        assert filled == []
    else:
        assert len(filled) == 1 and "the video has 3.0 s after the start; " + warned in filled[0]
