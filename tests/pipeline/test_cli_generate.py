"""`audiox generate` end to end: a real video through V2A and V2M with the mux checked, batches, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO.parent / "shared" / "media"
FAST = ["--steps", "3", "--sampler", "euler", "--no-progress"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audiox.cli", "generate", *args], capture_output=True, text=True,
                          cwd=REPO)


def _run_inprocess(capsys, *args: str) -> tuple[int, str]:
    from audiox.cli import main

    code = main(["generate", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("video, music", [("v2a-sample-1.mp4", False), ("v2m-sample-2.mp4", True)])
def test_video_to_audio_and_music_with_mux(debug_model_dir, tmp_path, video, music):
    wav, mp4 = tmp_path / "out.wav", tmp_path / "out.mp4"
    args = ["--model", str(debug_model_dir), "--video", str(MEDIA / video), "--seconds", "3", "--seed", "1",
            "-o", str(wav), "--mux", str(mp4), *FAST] + (["--music"] if music else [])
    res = _run(*args)
    assert res.returncode == 0, res.stderr
    data, sr = sf.read(wav)
    assert sr == 8000 and len(data) == 3 * 8000
    meta = json.loads(wav.with_suffix(".json").read_text())
    assert meta["seed"] == 1 and meta["text"][0] == ("Generate music for the video" if music else
                                                     "Generate general audio for the video")
    with av.open(str(mp4)) as out, av.open(str(MEDIA / video)) as src:
        kinds = sorted(s.type for s in out.streams)
        assert kinds == ["audio", "video"]
        v_out, v_in = out.streams.video[0], src.streams.video[0]
        assert v_out.codec_context.name == v_in.codec_context.name  # copied, not re-encoded
        assert (v_out.width, v_out.height) == (v_in.width, v_in.height)
        assert abs(float(out.duration / av.time_base) - 3.0) < 0.5


def test_batch_jobs(debug_model_dir, tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"text": "a bell", "seed": 1, "out": "bell.wav"}) + "\n"
                    + json.dumps({"text": "a drum", "seconds": 1.5, "out": "drum.flac"}) + "\n")
    code, err = _run_inprocess(capsys, "--model", str(debug_model_dir), "--batch", str(jobs), "--out-dir",
                               str(tmp_path / "o"), *FAST)
    assert code == 0, err
    assert sf.info(tmp_path / "o" / "bell.wav").frames == 8192
    assert sf.info(tmp_path / "o" / "drum.flac").frames == 12000
    assert json.loads((tmp_path / "o" / "drum.json").read_text())["seed"] is not None


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    not_video = tmp_path / "fake.mp4"
    not_video.write_text("this is not a video")
    empty_wav = tmp_path / "empty.wav"
    sf.write(empty_wav, [], 8000)
    not_image = tmp_path / "fake.png"
    not_image.write_text("not an image")
    clip = tmp_path / "clip.wav"
    sf.write(clip, [0.1] * 8000, 8000)
    return {
        "missing file": (["--video", str(tmp_path / "nope.mp4")], "not found"),
        "undecodable video": (["--video", str(not_video)], "fake.mp4"),
        "zero-length audio": (["--audio", str(empty_wav)], "empty.wav"),
        "not an image": (["--image", str(not_image)], "fake.png"),
        "inpaint outside clip": (["--audio", str(clip), "--inpaint", "0.5-3"], "ends after the clip"),
        "seconds 0": (["--text", "x", "--seconds", "0"], "seconds"),
        "unknown sampler": (["--text", "x", "--sampler", "nope"], "unknown sampler"),
        "bad range text": (["--audio", str(clip), "--inpaint", "abc"], "START-END"),
    }


@pytest.mark.parametrize("case", ["missing file", "undecodable video", "zero-length audio", "not an image",
                                  "inpaint outside clip", "seconds 0", "unknown sampler", "bad range text"])
def test_bad_input_one_line_no_output(debug_model_dir, tmp_path, capsys, case):
    args, needle = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out.wav"
    mux = ["--mux", str(tmp_path / "o.mp4")] if case in ("missing file", "undecodable video") else []
    code, err = _run_inprocess(capsys, "--model", str(debug_model_dir), *FAST, *args, "-o", str(out), *mux)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err
    assert not out.exists() and not (tmp_path / "o.mp4").exists()
    assert not list(tmp_path.glob(".*.tmp*"))
