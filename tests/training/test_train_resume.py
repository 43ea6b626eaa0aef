"""Acceptance: resuming reproduces an uninterrupted run; a SIGKILL during a checkpoint write keeps the previous one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_train_utils import dit_state, make_corpus, read_losses, train_config

N = 3  # steps before the interruption; the runs end at 2N
TOL = 0.0  # the resumed run repeats the same arithmetic on the same machine: every weight and moment is bitwise equal


def _run(manifest: Path, out: Path, steps: int, *, resume: bool = False):
    from audiox.models.presets import build_model
    from audiox.training.run import train

    cfg = train_config(max_steps=steps, checkpoint_every=N, accumulate_grad_batches=2, lr=5e-4, schedule="inverse",
                       warmup=0.5, ema_beta=0.9, ema_update_after_step=0)
    model = build_model("debug", seed=0)
    summary = train(model, str(manifest), out, cfg, accelerator="cpu", devices=1, resume=resume, progress=False,
                    export=False)
    return model, summary


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].numel())


def test_resume_matches_uninterrupted(tmp_path: Path, one_thread) -> None:
    # media tasks, random crops of a long clip and a corrupt file: every data path takes part
    manifest = make_corpus(tmp_path / "data", n_text=2, media=True, corrupt=1, long_clip=True)

    full, s_full = _run(manifest, tmp_path / "full", 2 * N)
    _, s_half = _run(manifest, tmp_path / "split", N)
    assert s_half["steps"] == N
    resumed, s_res = _run(manifest, tmp_path / "split", 2 * N, resume=True)
    assert s_full["steps"] == s_res["steps"] == 2 * N
    assert s_res["skipped"] == s_full["skipped"]  # the skip counter is part of the checkpoint

    diff = _max_diff(dit_state(full), dit_state(resumed))
    print(f"resume: max |DiT(2N) - DiT(N + resume N)| = {diff:.3g}")
    assert diff <= TOL
    # the per-step losses of the two halves are those of the uninterrupted run (same batches, crops, noise)
    assert read_losses(tmp_path / "split") == pytest.approx(read_losses(tmp_path / "full"), abs=TOL)
    ck_full = torch.load(tmp_path / "full/checkpoints/last.ckpt", weights_only=True)
    ck_res = torch.load(tmp_path / "split/checkpoints/last.ckpt", weights_only=True)
    ema = {k: v for k, v in ck_full["state_dict"].items() if k.startswith("ema.")}
    assert ema and _max_diff(ema, {k: ck_res["state_dict"][k] for k in ema}) <= TOL
    assert ck_full["audiox"]["micro_step"] == ck_res["audiox"]["micro_step"] == 4 * N
    st_full, st_res = ck_full["optimizer_states"][0]["state"], ck_res["optimizer_states"][0]["state"]
    for i in st_full:
        assert _max_diff(st_full[i], st_res[i]) <= TOL
    assert ck_full["lr_schedulers"][0]["last_epoch"] == ck_res["lr_schedulers"][0]["last_epoch"] == 2 * N
    # and the whole run is not trivially constant: training moved the weights
    fresh = dit_state(__import__("audiox.models.presets", fromlist=["x"]).build_model("debug", seed=0))
    assert _max_diff(fresh, dit_state(full)) > 1e-4


def test_resume_refuses_overwrite_and_missing(tmp_path: Path, one_thread) -> None:
    from audiox.errors import ConfigError

    manifest = make_corpus(tmp_path / "data", n_text=2)
    with pytest.raises(ConfigError, match="--resume"):
        _run(manifest, tmp_path / "none", 1, resume=True)
    _run(manifest, tmp_path / "run", 1)
    with pytest.raises(ConfigError, match="already holds a run"):
        _run(manifest, tmp_path / "run", 2)


_WRITER = textwrap.dedent("""
    import sys, time, torch
    from audiox.training.callbacks import AtomicCheckpointIO

    def stalled_save(obj, f):  # writes part of the checkpoint, then hangs until killed
        f.write(b"PK" + bytes(1 << 20))
        f.flush()
        print("writing", flush=True)
        time.sleep(120)

    torch.save = stalled_save
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "global_step": 2}, sys.argv[1])
""")


def test_sigkill_during_checkpoint_write_keeps_previous(tmp_path: Path) -> None:
    from audiox.training.callbacks import AtomicCheckpointIO

    path = tmp_path / "ckpt" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"  # mid-write: 1 MiB of the new checkpoint is on disk
        tmp = [p for p in path.parent.iterdir() if ".tmp" in p.name]  # .last.XXXX.tmp.ckpt
        assert len(tmp) == 1 and tmp[0].stat().st_size == 2 + (1 << 20)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    ck = torch.load(path, weights_only=True)
    assert ck["global_step"] == 1 and torch.equal(ck["state_dict"]["w"], torch.ones(3))
    # the next save (a restarted run) replaces it normally
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "global_step": 3}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 3
