"""Manifest round trip and bad input: one clear error naming the line, the argument or the folder."""

from __future__ import annotations

import json

import pytest

from audiox.cli import main
from audiox.data.manifest import ManifestEntry, read_manifest, write_manifest
from audiox.data.synth import BuildConfig, build
from audiox.errors import ConfigError, MediaError


def _entry(i: int, **kw) -> ManifestEntry:
    base = dict(id=f"{i:06d}", split="train", kind="sfx", task="t2a", audio=f"audio/{i:06d}.wav", video=None,
                image=None, caption="A bell rings twice.", audio_prompt=None, sample_rate=44100, seconds=10.0,
                labels={"classes": [{"class": "bell"}], "event_times": [1.0, 2.5]})
    base.update(kw)
    return ManifestEntry(**base)


def test_round_trip(tmp_path):
    entries = [_entry(0), _entry(1, task="inpaint", audio_prompt={"mode": "inpaint", "spans": [[2.0, 4.5]]}),
               _entry(2, kind="music", task="v2m", video="video/000002.mp4", caption="Generate music for the video")]
    write_manifest(tmp_path / "manifest.jsonl", entries)
    assert read_manifest(tmp_path / "manifest.jsonl") == entries
    assert not [p for p in tmp_path.iterdir() if p.name != "manifest.jsonl"]  # no temporary left behind


@pytest.mark.parametrize(
    "change, message",
    [
        ({"task": "t2x"}, "task"),
        ({"split": "dev"}, "split"),
        ({"audio": "/abs/a.wav"}, "audio"),
        ({"task": "v2a"}, "video: required"),
        ({"task": "inpaint"}, "audio_prompt"),
        ({"audio_prompt": {"mode": "inpaint", "spans": [[5.0, 11.0]]}, "task": "inpaint"}, "bad span"),
        ({"sample_rate": "44100"}, "sample_rate"),
        ({"extra": 1}, "unknown keys"),
    ],
)
def test_bad_line_names_line_and_field(tmp_path, change, message):
    good = json.loads(_entry(0).to_json())
    bad = {**json.loads(_entry(1).to_json()), **change}
    path = tmp_path / "manifest.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ConfigError, match=rf"manifest.jsonl:2: .*{message}"):
        read_manifest(path)


def test_bad_json_and_duplicates(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text(_entry(0).to_json() + "\n{not json\n")
    with pytest.raises(ConfigError, match=r":2: not valid JSON"):
        read_manifest(path)
    path.write_text(_entry(0).to_json().replace('"seconds": 10.0', '"seconds": NaN') + "\n")
    with pytest.raises(ConfigError, match=r":1: NaN is not a number JSON allows"):
        read_manifest(path)
    path.write_bytes(_entry(0).to_json().encode() + b"\n\xff\n")
    with pytest.raises(ConfigError, match=r":2: not UTF-8 text"):
        read_manifest(path)
    path.write_text(_entry(0).to_json() + "\n\n" + _entry(0).to_json() + "\n")
    with pytest.raises(ConfigError, match=r":3: duplicate id"):
        read_manifest(path)
    with pytest.raises(MediaError, match="not found"):
        read_manifest(tmp_path / "missing.jsonl")


def test_build_rejects_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match="n: must be > 0"):
        build(BuildConfig(out=tmp_path / "c", n=0, seed=0))
    with pytest.raises(ConfigError, match="parent folder"):
        build(BuildConfig(out=tmp_path / "no" / "such" / "c", n=2, seed=0))
    with pytest.raises(ConfigError, match="seed"):
        build(BuildConfig(out=tmp_path / "c", n=2, seed=-1))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        build(BuildConfig(out=tmp_path / "busy", n=2, seed=0))


def test_cli_reports_one_line_errors(tmp_path, capsys):
    assert main(["synth", "build", "--out", str(tmp_path / "a" / "b"), "--n", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --out: parent folder")
    assert main(["synth", "build", "--out", str(tmp_path / "c"), "--n", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --n: must be >= 1, got 0"
    assert main(["synth"]) == 2
    assert "synth build" in capsys.readouterr().err


def test_cli_builds_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "c"
    args = ["synth", "build", "--out", str(out), "--n", "2", "--seed", "3", "--workers", "1", "--seconds", "2",
            "--sample-rate", "16000", "--video-size", "32", "--no-progress"]
    assert main(args) == 0
    assert "built 2 samples" in capsys.readouterr().out
    assert len(read_manifest(out / "manifest.jsonl")) == 2
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
