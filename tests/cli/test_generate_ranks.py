"""`audiox generate --batch` across ranks (RANK / WORLD_SIZE as torchrun sets them): each rank a disjoint share,
the same files as one process, and a killed run finished by the same command with --skip-done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import assert_refused, run_cli

from audiox.pipeline.jobs import parse_job
from audiox.pipeline.ranks import Ranks, is_done, job_stamp, launcher_ranks

N_JOBS = 6
COMMON = ["--steps", "2", "--sampler", "euler", "--threads", "1", "--device", "cpu", "--no-progress"]


def _jobs(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs.jsonl"
    lines = [{"text": f"sound {i}", "seed": 100 + i} | ({"out": f"sub/j{i}.wav"} if i == 3 else {})
             for i in range(N_JOBS)]
    jobs.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return jobs


def _outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _argv(model: Path, jobs: Path, out: Path, *more: str) -> list[str]:
    return ["generate", "--model", str(model), "--batch", str(jobs), "--out-dir", str(out), *COMMON, *more]


def _launch(argv: list[str], rank: int, world: int) -> subprocess.Popen:
    env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    return subprocess.Popen([sys.executable, "-m", "audiox", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def reference(debug_model_dir, tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """The batch file and the files of an uninterrupted one-process run."""
    tmp = tmp_path_factory.mktemp("ref")
    jobs = _jobs(tmp)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        assert k not in os.environ
    res = run_cli(_argv(debug_model_dir, jobs, tmp / "one"))
    assert res.code == 0, res.stderr
    files = _outputs(tmp / "one")
    assert len(files) == 2 * N_JOBS
    return jobs, files


def test_two_ranks_write_the_files_of_one(debug_model_dir, reference, tmp_path):
    """Two concurrent ranks split the jobs (i % 2) and together write byte-identical files (audio and sidecars)
    to a one-process run; rank 0 reports the whole batch's completion."""
    jobs, one = reference
    procs = [_launch(_argv(debug_model_dir, jobs, tmp_path / "two"), r, 2) for r in (0, 1)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    wrote = [sorted(ln.split()[1].rsplit("/", 1)[-1] for ln in o.splitlines() if ln.startswith("wrote"))
             for o, _ in outs]
    assert wrote == [["job0000.wav", "job0002.wav", "job0004.wav"], ["j3.wav", "job0001.wav", "job0005.wav"]]
    assert "rank 0/2: 3 generated, 0 already done;" in outs[0][0]
    assert f"of {N_JOBS} jobs of the batch done so far" in outs[0][0]
    assert _outputs(tmp_path / "two") == one


def test_killed_run_resumes_without_redoing_finished_jobs(debug_model_dir, reference, tmp_path, monkeypatch):
    """A one-process run is killed (SIGKILL) after its first finished job; the same batch on two ranks with
    --skip-done leaves the finished sets untouched (same inode and mtime), makes the rest, and the folder then
    equals an uninterrupted run's."""
    jobs, one = reference
    out = tmp_path / "killed"
    proc = _launch(_argv(debug_model_dir, jobs, out), 0, 1)
    first = out / "job0000.json"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    assert first.exists()
    finished = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.json")}
    finished |= {p.with_suffix(".wav"): (p.with_suffix(".wav").stat().st_ino, p.with_suffix(".wav").stat().st_mtime_ns)
                 for p in list(finished)}
    n_done = len(finished) // 2
    assert 1 <= n_done < N_JOBS, "the run was not interrupted"

    generated = skipped = 0
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in (0, 1):  # resumed on another number of ranks, one after the other
        monkeypatch.setenv("RANK", str(rank))
        res = run_cli(_argv(debug_model_dir, jobs, out, "--skip-done"))
        assert res.code == 0, res.stderr
        counts = res.stdout.split(f"rank {rank}/2: ")[1].split(" already done")[0]
        generated += int(counts.split(" generated, ")[0])
        skipped += int(counts.split(" generated, ")[1])
    # a kill between the renames of the next set leaves its journal: recovery finishes that set too
    assert n_done <= skipped <= n_done + 1 and generated + skipped == N_JOBS
    assert all((p.stat().st_ino, p.stat().st_mtime_ns) == v for p, v in finished.items())
    assert _outputs(out) == one  # no temporary file or journal left either


def test_each_rank_clears_only_its_own_leftovers(debug_model_dir, reference, tmp_path, monkeypatch):
    """Leftovers of a dead writer: rank 0 of 2 removes its own job's temporary file and leaves rank 1's (another
    machine's process ids mean nothing here); a finished batch loads no model and reports itself done."""
    jobs, one = reference
    out = tmp_path / "o"
    for name, data in one.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine, theirs = (out / f".job000{i}.wav.{dead.pid}.0123abcd.tmp.wav" for i in (0, 1))
    for p in (mine, theirs):
        p.write_bytes(b"partial")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = run_cli(_argv(debug_model_dir, jobs, out, "--skip-done"))
    assert res.code == 0, res.stderr
    assert not mine.exists() and theirs.exists()
    assert f"rank 0/2: 0 generated, 3 already done; {N_JOBS} of {N_JOBS} jobs of the batch done" in res.stdout


def test_done_means_the_whole_set_with_these_settings(tmp_path):
    """A job is done only when audio, sidecar and mux video all exist and the sidecar's stamp is this job's."""
    job = parse_job({"text": "a", "seed": 1, "out": "a.wav", "mux": "a.mp4", "video": "v.mp4"}, out_dir=tmp_path)
    stamp = job_stamp(job, {"model": "m"})
    assert stamp != job_stamp(job, {"model": "other"})
    assert stamp != job_stamp(parse_job({"text": "a", "seed": 2, "out": "a.wav", "mux": "a.mp4", "video": "v.mp4"},
                                        out_dir=tmp_path), {"model": "m"})
    job.out.write_bytes(b"RIFF")
    job.sidecar.write_text(json.dumps({"job": stamp}))
    assert not is_done(job, stamp)  # no mux video yet
    job.mux.write_bytes(b"mp4")
    assert is_done(job, stamp)
    assert not is_done(job, job_stamp(job, {"model": "other"}))
    job.sidecar.write_text("{not json")
    assert not is_done(job, stamp)


def test_launcher_ranks_and_shares():
    assert launcher_ranks({}) == Ranks(0, 1, 0)
    assert launcher_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    jobs = list(range(10))
    shares = [Ranks(r, 3).share(jobs) for r in range(3)]
    assert sorted(sum(shares, [])) == jobs and shares[1] == [1, 4, 7]


@pytest.mark.parametrize("env, extra, expect", [
    ({"RANK": "0"}, [], "RANK and WORLD_SIZE go together"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, [], "expected 0 <= RANK < WORLD_SIZE"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, [], "RANK='x' is not a whole number"),
    ({"RANK": "0", "WORLD_SIZE": "2"}, ["single"], "ranks share the jobs of --batch"),
    ({}, ["single", "--skip-done"], "--skip-done: only used with --batch"),
])
def test_rank_refusals(debug_model_dir, tmp_path, monkeypatch, env, extra, expect):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    work = tmp_path / "w"
    work.mkdir()
    jobs = _jobs(work)
    if extra[:1] == ["single"]:
        argv = ["generate", "--model", str(debug_model_dir), "--text", "x", "-o", str(work / "o.wav"), *extra[1:]]
    else:
        argv = _argv(debug_model_dir, jobs, work / "out", *extra)
    assert_refused(argv, expect, work)


def test_each_rank_checks_its_own_share(debug_model_dir, tmp_path, monkeypatch):
    """Media are read by the rank that owns the job (a missing file in rank 1's job stops rank 1 only, in one line
    naming its line); an output two jobs share is refused on every rank."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"text": "a", "seed": 1}) + "\n"
                    + json.dumps({"audio": str(tmp_path / "missing.wav"), "seed": 2}) + "\n")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    work = tmp_path / "w"
    work.mkdir()
    assert_refused(_argv(debug_model_dir, jobs, work / "o"), f"{jobs}:2: ", work)
    monkeypatch.setenv("RANK", "0")
    res = run_cli(_argv(debug_model_dir, jobs, work / "o"))
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in (work / "o").iterdir()) == ["job0000.json", "job0000.wav"]
    clash = tmp_path / "clash.jsonl"
    clash.write_text(json.dumps({"text": "a", "out": "x.wav"}) + "\n" + json.dumps({"text": "b", "out": "x.wav"})
                     + "\n")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        assert_refused(_argv(debug_model_dir, clash, work / "o2"), "also written by", work)
