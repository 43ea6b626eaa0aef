"""``audiox evaluate benchmark``: the public layouts, and a tiny AudioCaps folder through generation (built-in
model, 2 sampler steps) and scoring (offline embedder), then resumed with nothing left to do; the same on 2 ranks
(RANK / WORLD_SIZE as torchrun sets them), and rank 0 giving up on a rank that never comes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiox.evaluation.benchmarks import V2A_PROMPT, V2M_PROMPT, read_benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from harness import run_cli  # noqa: E402


def _wav(path: Path, seed: int, seconds: float = 0.5) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (np.random.default_rng(seed).normal(size=int(16000 * seconds)) * 0.1).astype(np.float32), 16000)


def test_layouts(tmp_path: Path):
    mc = tmp_path / "mc"
    mc.mkdir()
    (mc / "musiccaps-public.csv").write_text(
        "ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,author_id,is_balanced_subset,"
        "is_audioset_eval\n-0Gj8-vB1q4,30,40,/m/0140xf,\"['low quality']\",A calm piano piece.,4,False,True\n"
        "zz,0,10,,[],Missing audio,1,False,False\n")
    _wav(mc / "audio" / "-0Gj8-vB1q4.wav", 0)
    b = read_benchmark("musiccaps", mc)
    assert [(i.name, i.text, i.video) for i in b.items] == [("-0Gj8-vB1q4", "A calm piano piece.", None)]
    assert b.missing == 1

    vs = tmp_path / "vs"
    (vs / "video").mkdir(parents=True)
    (vs / "vggsound.csv").write_text("---g-f_I2yQ,1,people marching,test\nabc,30,dog barking,train\n"
                                     "xyz,7,rain,test\n")
    (vs / "video" / "---g-f_I2yQ_000001.mp4").write_bytes(b"")
    b = read_benchmark("vggsound", vs)
    item = b.items[0]
    assert (item.name, item.text, item.video.name, item.reference) == (
        "---g-f_I2yQ_000001", V2A_PROMPT, "---g-f_I2yQ_000001.mp4", item.video)  # soundtrack as the reference
    assert b.missing == 1  # xyz_000007.mp4 is absent; the train row is not counted

    v2m = tmp_path / "v2m"
    (v2m / "video").mkdir(parents=True)
    (v2m / "video" / "m1.mp4").write_bytes(b"")
    _wav(v2m / "audio" / "m1.wav", 1)
    b = read_benchmark("v2m-bench", v2m)
    assert [(i.name, i.text) for i in b.items] == [("m1", V2M_PROMPT)]


@pytest.fixture()
def audiocaps(tmp_path: Path) -> Path:
    d = tmp_path / "audiocaps"
    d.mkdir()
    (d / "test.csv").write_text("audiocap_id,youtube_id,start_time,caption\n"
                                "101,yt_a,30,A dog barks twice\n102,yt_b,0,Rain falls on a tin roof\n"
                                "103,yt_a,30,A dog is barking\n104,yt_gone,0,not downloaded\n")
    _wav(d / "audio" / "yt_a.wav", 2)
    _wav(d / "audio" / "102.flac", 3)  # found by its audiocap_id
    return d


def test_benchmark_end_to_end_and_resume(audiocaps: Path, tmp_path: Path, monkeypatch, capsys):
    from audiox.cli import main

    out = tmp_path / "out"
    argv = ["evaluate", "benchmark", "audiocaps", "--data", str(audiocaps), "--out", str(out), "--steps", "2",
            "--seconds", "2", "--device", "cpu", "--threads", "1", "--no-progress", "--cache", str(tmp_path / "c")]
    assert main(argv) == 0
    assert sorted(p.name for p in (out / "generated").iterdir()) == ["yt_a.json", "yt_a.wav", "yt_b.json",
                                                                     "yt_b.wav"]
    side = json.loads((out / "generated" / "yt_a.json").read_text())
    assert side["text"] == ["A dog barks twice"] and side["steps"] == 2 and side["seed"] == 0  # first caption
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["benchmark"] == "audiocaps" and report["meta"]["left_out_missing_files"] == 1
    assert report["meta"]["generated_now"] == 2 and report["protocol"] == "offline"
    assert report["n_real"] == report["n_generated"] == 2
    assert np.isfinite(report["metrics"]["fd:aisfx"]) and np.isfinite(report["metrics"]["kad:aisfx"])
    assert (out / "report.md").is_file() and (out / "clips_dist_to_real_mean_aisfx.png").is_file()
    assert "0 already generated, 2 generated now" in capsys.readouterr().out

    # resumed: nothing is generated again (no model is even loaded), features come from the cache
    from audiox.pipeline import AudioXPipeline

    def no_model(*a, **k):
        raise AssertionError("the model was loaded although every output was done")

    monkeypatch.setattr(AudioXPipeline, "from_pretrained", no_model)
    assert main(argv) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["meta"]["generated_before"] == 2 and again["meta"]["generated_now"] == 0
    assert again["cache"] == {"real": "cache hit", "generated": "cache hit"}
    assert again["metrics"] == report["metrics"]
    assert "2 already generated, 0 generated now" in capsys.readouterr().out


def _bench_argv(data: Path, out: Path, *more: str) -> list[str]:
    return ["evaluate", "benchmark", "audiocaps", "--data", str(data), "--out", str(out), "--steps", "2",
            "--seconds", "2", "--device", "cpu", "--threads", "1", "--no-progress", *more]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_benchmark_on_two_ranks_equals_one(audiocaps: Path, tmp_path: Path, monkeypatch):
    """Two concurrent ranks each make their item (i % 2) and write the files of a one-rank run, byte for byte;
    rank 0 alone scores, after rank 1's output exists, with the one-rank run's metrics. Exact equality: the same
    files go through the same embedder on one thread, so every float is the same."""
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    res = run_cli(_bench_argv(audiocaps, tmp_path / "one", "--no-cache"))
    assert res.code == 0, res.stderr
    one = json.loads((tmp_path / "one" / "report.json").read_text())

    out = tmp_path / "two"
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(Path.cwd())}
        procs.append(subprocess.Popen([sys.executable, "-m", "audiox", *_bench_argv(audiocaps, out, "--no-cache")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    assert "rank 0/2: 1 generated, 0 already done;" in outs[0][0] and "report:" in outs[0][0]
    assert "rank 1/2: 1 generated, 0 already done" in outs[1][0] and "report:" not in outs[1][0]
    assert _files(out / "generated") == _files(tmp_path / "one" / "generated")
    two = json.loads((out / "report.json").read_text())
    assert two["metrics"] == one["metrics"] and two["n_generated"] == 2
    assert two["meta"]["ranks"] == 2 and two["meta"]["generated_now"] == 2


def test_rank0_gives_up_on_a_missing_rank_then_a_rerun_finishes(audiocaps: Path, tmp_path: Path, monkeypatch):
    """Rank 0 of 2 with no rank 1: it makes its item, waits --wait-ranks seconds for the other, and stops with one
    error line and no report; the same command on one rank keeps that item, makes the other and scores."""
    out = tmp_path / "out"
    argv = _bench_argv(audiocaps, out, "--cache", str(tmp_path / "c"))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = run_cli([*argv, "--wait-ranks", "0.5"])
    assert res.code == 2 and "Traceback" not in res.stderr
    err = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "rank 0/2: 1 of 2 items still missing after 0.5 s" in err[0], res.stderr
    assert sorted(p.name for p in (out / "generated").iterdir()) == ["yt_a.json", "yt_a.wav"]
    assert not (out / "report.json").exists()
    kept = (out / "generated" / "yt_a.wav").stat().st_mtime_ns
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    res = run_cli(argv)
    assert res.code == 0, res.stderr
    assert "1 already generated, 1 generated now" in res.stdout
    assert (out / "generated" / "yt_a.wav").stat().st_mtime_ns == kept
    assert json.loads((out / "report.json").read_text())["meta"]["generated_now"] == 1
