"""`audiox generate` refuses every bad input with one `error:` line, exit 2, before the model loads, leaving the
output folder and the inputs exactly as they were (tests/cli/harness.py).

Each case builds its inputs in the case folder (or uses the shared media folder) and names a piece of the
expected message. The model loader is replaced by one that fails the test: every refusal must come first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from harness import assert_refused, write_video

from audiox.pipeline.source import BUILTIN_DIR

RATE = 8000  # the debug preset's sample rate


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Inputs shared by the cases (watched: no case may change them)."""
    d = tmp_path_factory.mktemp("gen-media")
    t = np.arange(2 * RATE) / RATE
    sf.write(d / "clip.wav", 0.3 * np.sin(2 * np.pi * 440 * t), RATE)
    nan = 0.1 * np.ones(RATE, dtype=np.float32)
    nan[100] = np.nan
    sf.write(d / "nan.wav", nan, RATE, subtype="FLOAT")
    inf = 0.1 * np.ones(RATE, dtype=np.float32)
    inf[5] = np.inf
    sf.write(d / "inf.wav", inf, RATE, subtype="FLOAT")
    huge = 0.1 * np.ones(RATE, dtype=np.float32)
    huge[RATE // 2] = 1e30  # finite, but no audio: it used to run the model and then blame the guidance scale
    sf.write(d / "huge.wav", huge, RATE, subtype="FLOAT")
    sf.write(d / "empty.wav", np.zeros(0), RATE)
    sf.write(d / "long.wav", np.zeros(700 * RATE, dtype=np.int16), RATE, subtype="PCM_16")  # 700 s > the limit
    (d / "text.wav").write_text("not audio at all")
    (d / "fake.mp4").write_text("this is not a video")
    (d / "fake.png").write_text("not an image")
    write_video(d / "in.mp4", 3.0)
    write_video(d / "vp8.webm", 3.0, codec="libvpx")  # valid, but VP8 cannot be copied into an MP4
    whole = (d / "in.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    (d / "folder.mp4").mkdir()
    (d / "folder.wav").mkdir()
    (d / "afile").write_text("a file")
    return d


def _batch(tmp: Path, *lines: str | bytes | dict) -> str:
    p = tmp / "jobs.jsonl"
    data = b"".join((ln if isinstance(ln, bytes) else (json.dumps(ln) if isinstance(ln, dict) else ln).encode())
                    + b"\n" for ln in lines)
    p.write_bytes(data)
    return str(p)


def _write_png(path: Path) -> Path:
    """A real PNG image under any name."""
    from PIL import Image

    Image.new("RGB", (8, 8), (10, 20, 30)).save(path, format="PNG")
    return path


def _model(tmp: Path, config: str | None, generation: str | None = None, weights: bool = True) -> str:
    folder = tmp / "m"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config)
    if generation is not None:
        (folder / "generation.json").write_text(generation)
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


def _loop(path: Path) -> Path:
    """``path`` made a symbolic link to itself."""
    path.symlink_to(path.name)
    return path


def _file(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


BAD_UTF8 = os.fsdecode(b"rain \xff\xfe on a roof")
LONG = "a" * 250 + ".wav"  # fits the file system (254 bytes), the temporary name beside it does not
Case = Callable[[dict, Path, str], tuple[list[str], str]]
# id -> builder(media folder, case folder, debug model folder) -> (argv after `generate`, piece of the message)
CASES: dict[str, Case] = {
    # ---- outputs
    "o in /sys": lambda m, t, M: (["--text", "x", "-o", "/sys/o.wav"], "not writable"),
    "o in /proc": lambda m, t, M: (["--text", "x", "-o", "/proc/o.wav"], "not writable"),
    "o is a folder": lambda m, t, M: (["--text", "x", "-o", str(m / "folder.wav")], "is a folder"),
    "o in missing folder": lambda m, t, M: (["--text", "x", "-o", str(t / "nope" / "o.wav")], "does not exist"),
    "o under a file": lambda m, t, M: (["--text", "x", "-o", str(m / "afile" / "o.wav")], "is a file, not a folder"),
    "o mp3": lambda m, t, M: (["--text", "x", "-o", str(t / "o.mp3")], "must end in .wav or .flac"),
    "o no suffix": lambda m, t, M: (["--text", "x", "-o", str(t / "o")], "must end in"),
    "o empty": lambda m, t, M: (["--text", "x", "-o", ""], "expected a file path"),
    "o is the audio input": lambda m, t, M: (["--audio", str(m / "clip.wav"), "-o", str(m / "clip.wav")],
                                              "input file"),
    "o is the input via ..": lambda m, t, M: (["--audio", str(m / "clip.wav"), "-o",
                                               str(m / "folder.wav" / ".." / "clip.wav")], "input file"),
    "sidecar is a folder": lambda m, t, M: ((t / "o.json").mkdir() or ["--text", "x", "-o", str(t / "o.wav")],
                                            "is a folder"),
    "mux is the video input": lambda m, t, M: (["--video", str(m / "in.mp4"), "-o", str(t / "o.wav"), "--mux",
                                                str(m / "in.mp4")], "input file"),
    "mux without video": lambda m, t, M: (["--text", "x", "-o", str(t / "o.wav"), "--mux", str(t / "o.mp4")],
                                          "--mux needs --video"),
    "mux avi": lambda m, t, M: (["--video", str(m / "in.mp4"), "-o", str(t / "o.wav"), "--mux",
                                 str(t / "o.avi")], "must end in"),
    "mux in /proc": lambda m, t, M: (["--video", str(m / "in.mp4"), "-o", str(t / "o.wav"), "--mux",
                                      "/proc/o.mp4"], "not writable"),
    "out-dir without batch": lambda m, t, M: (["--text", "x", "--out-dir", str(t / "d")], "only used with --batch"),
    # ---- inputs
    "video missing": lambda m, t, M: (["--video", str(t / "nope.mp4")], "not found"),
    "video is a folder": lambda m, t, M: (["--video", str(m / "folder.mp4")], "is a folder"),
    "audio is a folder": lambda m, t, M: (["--audio", str(m / "folder.wav")], "is a folder"),
    "image missing": lambda m, t, M: (["--image", str(t / "nope.png")], "not found"),
    "video not a video": lambda m, t, M: (["--video", str(m / "fake.mp4")], "fake.mp4"),
    "video truncated": lambda m, t, M: (["--video", str(m / "cut.mp4")], "cut.mp4"),
    "image not an image": lambda m, t, M: (["--image", str(m / "fake.png")], "fake.png"),
    "audio empty": lambda m, t, M: (["--audio", str(m / "empty.wav")], "empty.wav"),
    "audio NaN": lambda m, t, M: (["--audio", str(m / "nan.wav")], "nan.wav"),
    "audio Inf": lambda m, t, M: (["--audio", str(m / "inf.wav")], "inf.wav"),
    "audio NaN inpaint": lambda m, t, M: (["--audio", str(m / "nan.wav"), "--inpaint", "0.2-0.4"], "nan.wav"),
    "audio not audio": lambda m, t, M: (["--audio", str(m / "text.wav")], "text.wav"),
    "video and image": lambda m, t, M: (["--video", str(m / "in.mp4"), "--image", str(m / "fake.png")],
                                        "either --video or --image"),
    "video-start nan": lambda m, t, M: (["--video", str(m / "in.mp4"), "--video-start", "nan"], "finite"),
    "video-start inf": lambda m, t, M: (["--video", str(m / "in.mp4"), "--video-start", "inf"], "finite"),
    "video-start negative": lambda m, t, M: (["--video", str(m / "in.mp4"), "--video-start", "-1"], ">= 0"),
    "video-start past end": lambda m, t, M: (["--video", str(m / "in.mp4"), "--video-start", "99"],
                                             "past the end"),
    # ---- numbers
    "seed 2**64": lambda m, t, M: (["--text", "x", "--seed", str(2**64)], "--seed"),
    "seed 10**30": lambda m, t, M: (["--text", "x", "--seed", str(10**30)], "--seed"),
    "seed negative": lambda m, t, M: (["--text", "x", "--seed", "-1"], "--seed"),
    "seed float": lambda m, t, M: (["--text", "x", "--seed", "1.5"], "--seed"),
    "steps 0": lambda m, t, M: (["--text", "x", "--steps", "0"], "steps"),
    "steps negative": lambda m, t, M: (["--text", "x", "--steps", "-5"], "steps"),
    "steps 100000": lambda m, t, M: (["--text", "x", "--steps", "100000"],
                                     "--steps: 100000 is more than the limit"),
    "steps text": lambda m, t, M: (["--text", "x", "--steps", "abc"], "--steps"),
    "steps float": lambda m, t, M: (["--text", "x", "--steps", "1.5"], "--steps"),
    "cfg inf": lambda m, t, M: (["--text", "x", "--cfg-scale", "inf"], "finite"),
    "cfg 1e30": lambda m, t, M: (["--text", "x", "--cfg-scale", "1e30"],
                                 "--cfg-scale: 1e+30 is more than the limit"),
    "cfg nan": lambda m, t, M: (["--text", "x", "--cfg-scale", "nan"], "finite"),
    "cfg 0": lambda m, t, M: (["--text", "x", "--cfg-scale", "0"], "> 0"),
    "cfg negative": lambda m, t, M: (["--text", "x", "--cfg-scale", "-3"], "> 0"),
    "seconds 0": lambda m, t, M: (["--text", "x", "--seconds", "0"], "seconds"),
    "seconds negative": lambda m, t, M: (["--text", "x", "--seconds", "-2"], "seconds"),
    "seconds nan": lambda m, t, M: (["--text", "x", "--seconds", "nan"], "finite"),
    "seconds inf": lambda m, t, M: (["--text", "x", "--seconds", "inf"], "finite"),
    "seconds over limit": lambda m, t, M: (["--text", "x", "--seconds", "601"], "limit"),
    "seconds below one frame": lambda m, t, M: (["--text", "x", "--seconds", "0.001"], "one latent frame"),
    "seconds 1e300": lambda m, t, M: (["--text", "x", "--seconds", "1e300"], "limit"),
    "sampler unknown": lambda m, t, M: (["--text", "x", "--sampler", "nope"], "unknown sampler"),
    "sampler empty": lambda m, t, M: (["--text", "x", "--sampler", ""], "unknown sampler"),
    "threads -2": lambda m, t, M: (["--text", "x", "--threads=-2"], "--threads"),
    "threads 0": lambda m, t, M: (["--text", "x", "--threads", "0"], "--threads"),
    "device bogus": lambda m, t, M: (["--text", "x", "--device", "bogus"], "--device"),
    "device cuda": lambda m, t, M: (["--text", "x", "--device", "cuda"], "cuda"),
    "device cuda:7": lambda m, t, M: (["--text", "x", "--device", "cuda:7"], "cuda"),
    "device empty": lambda m, t, M: (["--text", "x", "--device", ""], "--device"),
    "dtype fp8": lambda m, t, M: (["--text", "x", "--dtype", "fp8"], "--dtype"),
    "unknown flag": lambda m, t, M: (["--text", "x", "--bogus"], "unrecognized arguments"),
    "flag without value": lambda m, t, M: (["--text"], "expected one argument"),
    # ---- text
    "text not UTF-8": lambda m, t, M: (["--text", BAD_UTF8], "UTF-8"),
    "negative not UTF-8": lambda m, t, M: (["--text", "x", "--negative", BAD_UTF8], "UTF-8"),
    "text with NUL": lambda m, t, M: (["--text", "a\x00b"], "NUL"),
    "output path not UTF-8": lambda m, t, M: (["--text", "x", "-o", str(t / BAD_UTF8) + ".wav"], "UTF-8"),
    # ---- inpainting / continuation
    "inpaint syntax": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "abc"], "START-END"),
    "inpaint reversed": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "1.5-0.5"], "empty"),
    "inpaint outside clip": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "0.5-3"],
                                             "ends after the clip"),
    "inpaint nan": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "nan-1"], "finite"),
    "inpaint negative": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "-1-2"], "--inpaint"),
    "inpaint negative with =": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint=-1-2"], "START-END"),
    "inpaint without audio": lambda m, t, M: (["--text", "x", "--inpaint", "1-2"], "need --audio"),
    "continue without audio": lambda m, t, M: (["--text", "x", "--continue"], "need --audio"),
    "inpaint and continue": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "0-1", "--continue"],
                                             "not both"),
    "continue shorter": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--continue", "--seconds", "1"],
                                         "longer than the clip"),
    "inpaint long clip": lambda m, t, M: (["--audio", str(m / "long.wav"), "--inpaint", "1-2"], "limit"),
    "continue long clip": lambda m, t, M: (["--audio", str(m / "long.wav"), "--continue"], "limit"),
    "inpaint seconds shorter": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "0.5-1",
                                                 "--seconds", "1"], "shorter than the clip"),
    # ---- model folder
    "model missing": lambda m, t, M: (["--text", "x", "--model", str(t / "does_not_exist")], "does_not_exist"),
    "model preset name": lambda m, t, M: (["--text", "x", "--model", "debug"], "audiox train"),
    "model is a text file": lambda m, t, M: (["--text", "x", "--model", str(m / "afile")], "not a model folder"),
    "model folder empty": lambda m, t, M: ((t / "m").mkdir() or ["--text", "x", "--model", str(t / "m")],
                                           "holds no model.safetensors or model.ckpt"),
    "model without weights": lambda m, t, M: (["--text", "x", "--model", _model(t, "{}", weights=False)],
                                              "no model.safetensors"),
    "model without config": lambda m, t, M: (["--text", "x", "--model", _model(t, None)],
                                             "has no config.json beside the weights"),
    "model config not JSON": lambda m, t, M: (["--text", "x", "--model", _model(t, "{oops")], "not valid JSON"),
    "model config wrong key": lambda m, t, M: (["--text", "x", "--model", _model(t, '{"nope": 1}')], "nope"),
    "generation.json not JSON": lambda m, t, M: (["--text", "x", "--model",
                                                  _model(t, Path(M, "config.json").read_text(), "{")],
                                                 "generation.json"),
    "generation.json unknown key": lambda m, t, M: (["--text", "x", "--model",
                                                     _model(t, Path(M, "config.json").read_text(), '{"stepz": 3}')],
                                                    "stepz"),
    "generation.json bad steps": lambda m, t, M: (["--text", "x", "--model",
                                                   _model(t, Path(M, "config.json").read_text(), '{"steps": 0}')],
                                                  "steps"),
    "generation.json bad sampler": lambda m, t, M: (["--text", "x", "--model", _model(
        t, Path(M, "config.json").read_text(), '{"sampler": "nope"}')], "unknown sampler"),
    # ---- batch
    "batch without out-dir": lambda m, t, M: (["--batch", _batch(t, {"text": "x"})], "--out-dir"),
    "batch missing": lambda m, t, M: (["--batch", str(t / "nope.jsonl"), "--out-dir", str(t / "o")], "not found"),
    "batch is a folder": lambda m, t, M: (["--batch", str(m / "folder.wav"), "--out-dir", str(t / "o")],
                                          "is a folder"),
    "batch not UTF-8": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}, b'{"text": "\xff"}'), "--out-dir",
                                         str(t / "o")], "jsonl:2: not UTF-8"),
    "batch bad JSON": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}, "{oops"), "--out-dir", str(t / "o")],
                                       "jsonl:2: not valid JSON"),
    "batch line is a list": lambda m, t, M: (["--batch", _batch(t, "[1, 2]"), "--out-dir", str(t / "o")],
                                             "expected a JSON object"),
    "batch empty": lambda m, t, M: (["--batch", _batch(t, "", "  "), "--out-dir", str(t / "o")], "no jobs"),
    "batch seconds text": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "seconds": "abc"}), "--out-dir",
                                            str(t / "o")], "jsonl:1: seconds"),
    "batch out null": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": None}), "--out-dir",
                                        str(t / "o")], "out"),
    "batch out absolute": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": str(t / "a.wav")}),
                                            "--out-dir", str(t / "o")], "relative"),
    "batch out escapes": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": "../a.wav"}), "--out-dir",
                                           str(t / "o")], "leaves the output folder"),
    "batch mux escapes": lambda m, t, M: (["--batch", _batch(t, {"video": str(m / "in.mp4"), "mux": "../v.mp4"}),
                                           "--out-dir", str(t / "o")], "leaves the output folder"),
    "batch duplicate out": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": "a.wav"},
                                                               {"text": "y", "out": "a.wav"}),
                                             "--out-dir", str(t / "o")], "also written by"),
    "batch sidecar clash": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": "a.wav"},
                                                               {"text": "y", "out": "a.flac"}),
                                             "--out-dir", str(t / "o")], "also written by"),
    "batch out is another job's input": lambda m, t, M: (
        ["--batch", _batch(t, {"audio": str(m / "clip.wav"), "out": "a.wav"},
                           {"text": "y", "out": os.path.relpath(m / "clip.wav", t / "o")}),
         "--out-dir", str(t / "o")], "leaves the output folder"),
    "batch continue string": lambda m, t, M: (["--batch", _batch(t, {"audio": str(m / "clip.wav"),
                                                                     "continue": "false"}),
                                               "--out-dir", str(t / "o")], "true or false"),
    "batch music number": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "music": 1}), "--out-dir",
                                            str(t / "o")], "true or false"),
    "batch seed float": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "seed": 1.5}), "--out-dir",
                                          str(t / "o")], "integer"),
    "batch seed huge": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "seed": 2**64}), "--out-dir",
                                         str(t / "o")], "seed"),
    "batch steps bool": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "steps": True}), "--out-dir",
                                          str(t / "o")], "integer"),
    "batch unknown key": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "stepz": 3}), "--out-dir",
                                           str(t / "o")], "unknown key"),
    "batch NaN literal": lambda m, t, M: (["--batch", _batch(t, '{"text": "x", "cfg_scale": NaN}'), "--out-dir",
                                           str(t / "o")], "NaN"),
    "batch 1e999": lambda m, t, M: (["--batch", _batch(t, '{"text": "x", "cfg_scale": 1e999}'), "--out-dir",
                                     str(t / "o")], "finite"),
    "batch video_start empty": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "video_start": ""}),
                                                "--out-dir", str(t / "o")], "expected a number"),
    "batch video_start list": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "video_start": []}),
                                               "--out-dir", str(t / "o")], "expected a number"),
    "batch text number": lambda m, t, M: (["--batch", _batch(t, {"text": 5}), "--out-dir", str(t / "o")],
                                          "expected a string"),
    "batch out mp3": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": "a.mp3"}), "--out-dir",
                                       str(t / "o")], "must end in"),
    "batch third line missing video": lambda m, t, M: (
        ["--batch", _batch(t, {"text": "x"}, {"text": "y"}, {"video": str(t / "nope.mp4")}), "--out-dir",
         str(t / "o")], "jsonl:3:"),
    # a batch line's messages name its keys (they named the flags before)
    "batch mux without video": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "mux": "a.mp4"}),
                                                 "--out-dir", str(t / "o")], "jsonl:1: mux needs video"),
    "batch inpaint without audio": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "inpaint": "1-2"}),
                                                     "--out-dir", str(t / "o")],
                                                    "jsonl:1: inpaint / continue need audio"),
    "batch inpaint bad list": lambda m, t, M: (["--batch", _batch(t, {"audio": str(m / "clip.wav"),
                                                                      "inpaint": [[1]]}),
                                                "--out-dir", str(t / "o")], "START-END"),
    "batch flag default refused": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}), "--out-dir",
                                                    str(t / "o"), "--steps", "0"], "steps"),
    "batch with -o": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}), "--out-dir", str(t / "o"), "-o",
                                       str(t / "a.wav")], "not used with --batch"),
    "batch out-dir is a file": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}), "--out-dir",
                                                 str(m / "afile")], "is a file"),
    "batch out-dir in /proc": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}), "--out-dir", "/proc/o"],
                                               "not writable"),
    "batch out-dir under a file": lambda m, t, M: (["--batch", _batch(t, {"text": "x"}), "--out-dir",
                                                    str(m / "afile" / "o")], "is a file"),
    # ---- issue 24: outputs never replace inputs, the batch file or model files
    "o in the model folder (config.json)": lambda m, t, M: (["--text", "x", "-o", str(Path(M) / "config.wav")],
                                                            "inside the model folder"),
    "o new file in the model folder": lambda m, t, M: (["--text", "x", "-o", str(Path(M) / "generation.wav")],
                                                       "inside the model folder"),
    "o in the built-in model folder": lambda m, t, M: (["--text", "x", "-o", str(BUILTIN_DIR / "config.wav")],
                                                       "inside the built-in model folder"),
    "mux in the model folder": lambda m, t, M: (["--video", str(m / "in.mp4"), "-o", str(t / "o.wav"), "--mux",
                                                 str(Path(M) / "v.mp4")], "inside the model folder"),
    "o in the t5 folder": lambda m, t, M: ((t / "t5").mkdir() or ["--text", "x", "--t5-path", str(t / "t5"), "-o",
                                                                  str(t / "t5" / "o.wav")], "--t5-path folder"),
    "sidecar is the audio input": lambda m, t, M: (_file(t / "in.json") and [
        "--image", str(_write_png(t / "in.json")), "-o", str(t / "in.wav")], "input file"),
    "batch sidecar is the batch file": lambda m, t, M: (
        ["--batch", str(_file(t / "od" / "job0000.json", '{"text": "x"}\n')), "--out-dir", str(t / "od")],
        "is also the --batch file"),
    "batch out sidecar is the batch file": lambda m, t, M: (
        ["--batch", str(_file(t / "od" / "a.json", '{"text": "x", "out": "a.wav"}\n')), "--out-dir", str(t / "od")],
        "is also the --batch file"),
    "batch out in the model folder": lambda m, t, M: (
        ["--batch", _batch(t, {"text": "x", "out": f"{Path(M).name}/config.wav"}), "--out-dir", str(Path(M).parent)],
        "inside the model folder"),
    # ---- issue 24: strict parsing
    "seconds 1_0": lambda m, t, M: (["--text", "x", "--seconds", "1_0"], "--seconds: expected a number"),
    "seconds fullwidth digits": lambda m, t, M: (["--text", "x", "--seconds", "\uff11\uff10"], "--seconds"),
    "seconds with a space": lambda m, t, M: (["--text", "x", "--seconds", " 10"], "--seconds"),
    "steps 1_0": lambda m, t, M: (["--text", "x", "--steps", "1_0"], "'_' digit separators"),
    "seed 1_0": lambda m, t, M: (["--text", "x", "--seed", "1_0"], "--seed: expected an integer"),
    "cfg 1_0": lambda m, t, M: (["--text", "x", "--cfg-scale", "1_0"], "--cfg-scale"),
    "video-start 1_0": lambda m, t, M: (["--video", str(m / "in.mp4"), "--video-start", "0_1"], "--video-start"),
    "threads 1_0": lambda m, t, M: (["--text", "x", "--threads", "1_0"], "--threads"),
    "inpaint 1_0": lambda m, t, M: (["--audio", str(m / "clip.wav"), "--inpaint", "0-1_0"], "'_' digit separators"),
    "batch inpaint 1_0": lambda m, t, M: (["--batch", _batch(t, {"audio": str(m / "clip.wav"), "inpaint": "0-1_0"}),
                                           "--out-dir", str(t / "o")], "jsonl:1: inpaint"),
    "o trailing slash": lambda m, t, M: (["--text", "x", "-o", str(t / "out.wav") + "/"], "-o/--output"),
    "mux trailing slash": lambda m, t, M: (["--video", str(m / "in.mp4"), "-o", str(t / "o.wav"), "--mux",
                                            str(t / "o.mp4") + "/"], "--mux"),
    "audio trailing slash": lambda m, t, M: (["--audio", str(m / "clip.wav") + "/"], "ends in '/'"),
    "batch out trailing slash": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": "a.wav/"}),
                                                  "--out-dir", str(t / "o")], "jsonl:1: out"),
    "batch duplicate key": lambda m, t, M: (["--batch", _batch(t, '{"text": "x", "seconds": 1, "seconds": 2}'),
                                             "--out-dir", str(t / "o")], "jsonl:1: duplicate key 'seconds'"),
    "batch nested duplicate key": lambda m, t, M: (
        ["--batch", _batch(t, '{"text": "x", "inpaint": [{"a": 1, "a": 2}]}'), "--out-dir", str(t / "o")],
        "duplicate key 'a'"),
    "batch 100000 nested brackets": lambda m, t, M: (
        ["--batch", _batch(t, '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}"), "--out-dir", str(t / "o")],
        "jsonl:1: nested more than"),
    "batch line of 2 MB": lambda m, t, M: (["--batch", _batch(t, {"text": "x" * (2 << 20)}), "--out-dir",
                                            str(t / "o")], "jsonl:1: the line is"),
    "o symlink loop": lambda m, t, M: (["--text", "x", "-o", str(_loop(t / "lo.wav"))], "symbolic link loop"),
    "sidecar symlink loop": lambda m, t, M: (_loop(t / "o.json") and ["--text", "x", "-o", str(t / "o.wav")],
                                             "symbolic link loop"),
    "batch out symlink loop": lambda m, t, M: ((t / "o").mkdir() or _loop(t / "o" / "lo.wav") and [
        "--batch", _batch(t, {"text": "x", "out": "lo.wav"}), "--out-dir", str(t / "o")], "symbolic link loop"),
    "o name of 254 bytes": lambda m, t, M: (["--text", "x", "-o", str(t / LONG)], "name is too long"),
    "o name of 256 bytes": lambda m, t, M: (["--text", "x", "-o", str(t / ("b" * 252 + ".wav"))],
                                            "name is too long"),
    "batch out name of 254 bytes": lambda m, t, M: (["--batch", _batch(t, {"text": "x", "out": LONG}), "--out-dir",
                                                     str(t / "o")], "jsonl:1: out"),
    "mux name of 254 bytes": lambda m, t, M: (["--video", str(m / "in.mp4"), "-o", str(t / "o.wav"), "--mux",
                                               str(t / ("c" * 250 + ".mp4"))], "name is too long"),
    "mux of a VP8 video": lambda m, t, M: (["--video", str(m / "vp8.webm"), "-o", str(t / "o.wav"), "--mux",
                                            str(t / "o.mp4")], "vp8 video cannot be copied into .mp4"),
    # ---- issue 24: absurd inputs are refused before the model loads
    "audio samples of 1e30": lambda m, t, M: (["--audio", str(m / "huge.wav")], "huge.wav"),
    "audio samples of 1e30 inpaint": lambda m, t, M: (["--audio", str(m / "huge.wav"), "--inpaint", "0.1-0.2"],
                                                      "above full scale"),
}


@pytest.fixture
def no_model_load(monkeypatch):
    """Loading weights fails the test: every refusal must happen before it."""
    import audiox.checkpoint.official as official

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the input was refused")

    monkeypatch.setattr(official, "load_model", refuse)


@pytest.mark.parametrize("case", list(CASES))
def test_generate_refuses(case, media, tmp_path, debug_model_dir, no_model_load, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output (audiox_out.wav) would land here
    argv, expect = CASES[case](media, tmp_path, str(debug_model_dir))
    if "--model" not in argv:
        argv = [*argv, "--model", str(debug_model_dir)]
    if "-o" not in argv and "--batch" not in argv:
        argv = [*argv, "-o", str(tmp_path / "out.wav")]
    assert_refused(["generate", *argv], expect, tmp_path, watch=[media, Path(debug_model_dir)])


def test_table_size():
    """At least 100 generate cases (the other commands have their own table)."""
    assert len(CASES) >= 100
