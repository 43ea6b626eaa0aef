"""Acceptance: ``--strategy fsdp`` (FSDP2 per DiT block on Lightning's ModelParallelStrategy) on 2 CPU ranks (gloo,
launched by torchrun): the same losses and weights as DDP, sharded checkpoints that resume exactly after a SIGKILL
(also on another number of ranks) and convert to one model file; an unsupported strategy and accelerator pair is
one error line."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_train_utils import make_corpus, read_losses

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from harness import assert_refused, run_cli  # noqa: E402

from audiox.errors import ConfigError  # noqa: E402

STEPS = 4  # checkpoints every 2 steps; the interrupted run stops at 2 and resumes to 4
# Tolerance 0: with 2 ranks, DDP's bucketed all-reduce and FSDP2's reduce-scatter both add the same two gradients
# (a + b == b + a exactly) and halve them (exact in binary); FSDP2's all-gather restores the exact weights and AdamW
# is elementwise, so every loss, weight and moment is bitwise equal. A resumed run repeats the same arithmetic.
TOL = 0.0

_SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[3])
    from test_train_utils import train_config
    from audiox.training.run import train
    from audiox.models.presets import build_model

    import os, signal
    import pytorch_lightning as pl

    data, root, steps, mode = sys.argv[1], sys.argv[2], int(sys.argv[4]), sys.argv[5]

    class KillAt(pl.Callback):  # SIGKILL both ranks as the step after the last checkpoint begins
        def on_train_batch_start(self, trainer, *args):
            if trainer.global_step == steps - 1:
                os.kill(os.getpid(), signal.SIGKILL)

    def run(name, strategy, n, resume=False, export=False, demo_every=0, callbacks=()):
        cfg = train_config(max_steps=n, lr=1e-3, ema_update_after_step=0, ema_beta=0.5, checkpoint_every=2,
                           demo_every=demo_every, demo_steps=2)
        train(build_model("debug", seed=0), data, f"{root}/{name}", cfg, accelerator="cpu", devices=2,
              strategy=strategy, progress=False, export=export, resume=resume, callbacks=list(callbacks))

    if mode == "first":
        run("ddp", "ddp", steps)
        run("fsdp", "fsdp", steps, export=True, demo_every=2)  # demos: every rank runs the sharded EMA DiT
        run("cut", "fsdp", steps, callbacks=[KillAt()])
    else:
        run("cut", "fsdp", steps, resume=True)
""")

_ONE_RANK = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[3])
    from test_train_utils import train_config
    from audiox.training.run import train
    from audiox.models.presets import build_model

    cfg = train_config(max_steps=int(sys.argv[4]), lr=1e-3, ema_update_after_step=0, ema_beta=0.5, checkpoint_every=2)
    train(build_model("debug", seed=0), sys.argv[1], sys.argv[2], cfg, accelerator="cpu", devices=1, strategy="fsdp",
          progress=False, export=False, resume=True)
""")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """The runs of one torchrun launch (2 ranks) and the training data."""
    tmp = tmp_path_factory.mktemp("fsdp")
    manifest = make_corpus(tmp / "data", n_text=4, long_clip=True)
    script = tmp / "train_runs.py"
    script.write_text(_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(manifest), str(tmp / "runs"), str(Path(__file__).parent), str(STEPS)]
    killed = subprocess.run([*cmd, "first"], env=_env(), capture_output=True, text=True, timeout=400)
    assert killed.returncode != 0 and "SIGKILL" in killed.stderr, killed.stderr[-3000:]
    assert (tmp / "runs" / "fsdp" / "export" / "native").is_dir()  # the runs before the killed one finished
    proc = subprocess.run([*cmd, "resume"], env=_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "runs", manifest


def _losses(log: Path) -> list[float]:
    """The per-step losses one start (or resume) of a run logged."""
    import csv

    with open(log / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


def _sharded(path: Path) -> dict[str, torch.Tensor]:
    from audiox.training.sharded import load_sharded_state

    return load_sharded_state(path)[0]


def _assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k].float() - b[k].float()).abs().max().item() <= TOL, k


def test_fsdp_equals_ddp_and_resumes_exactly(runs):
    root, _ = runs
    ddp = torch.load(root / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    last = root / "fsdp" / "checkpoints" / "last.ckpt"
    assert last.is_dir() and sorted(p.name for p in last.iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp",
                                                                        "meta.pt"]
    losses = read_losses(root / "ddp")
    assert len(losses) == STEPS and read_losses(root / "fsdp") == losses  # TOL = 0
    fsdp = _sharded(last)
    _assert_equal(fsdp, ddp["state_dict"])  # weights, EMA and its counter
    from audiox.models.presets import build_model

    init = build_model("debug", seed=0).dit.state_dict()
    assert any(not torch.equal(v, fsdp["ema.ema_model." + k]) for k, v in init.items())  # it trained
    # killed (SIGKILL) during step 4, resumed from the checkpoint of step 2: the same steps 3 and 4, the same state
    assert _losses(root / "cut" / "logs" / "from-step-00000002") == losses[2:]
    _assert_equal(_sharded(root / "cut" / "checkpoints" / "last.ckpt"), fsdp)
    assert sorted(p.name for p in (root / "cut" / "checkpoints").iterdir()) == [
        "last.ckpt", "step-00000002.ckpt", "step-00000004.ckpt"]
    # the demos (rank 0 writes what all ranks generated) left the training arithmetic alone (equal to DDP above)
    assert sorted(str(p.relative_to(root / "fsdp" / "demos")) for p in (root / "fsdp" / "demos").rglob("*.wav")) == [
        "step-00000002/0.wav", "step-00000002/1.wav", "step-00000004/0.wav", "step-00000004/1.wav"]


def test_sharded_checkpoint_converts_to_one_file(runs, tmp_path):
    """sharded -> native (the EMA model, what the run exported) -> official -> native: the same tensors."""
    from safetensors.torch import load_file

    root, _ = runs
    last = root / "fsdp" / "checkpoints" / "last.ckpt"
    res = run_cli(["convert", str(last), str(tmp_path / "native")])
    assert res.code == 0, res.stderr
    native = load_file(tmp_path / "native" / "model.safetensors")
    _assert_equal(native, load_file(root / "fsdp" / "export" / "native" / "model.safetensors"))
    ema = {k.removeprefix("ema.ema_model."): v for k, v in _sharded(last).items() if k.startswith("ema.ema_model.")}
    assert ema and all(torch.equal(native["model.model." + k], v) for k, v in ema.items())
    assert run_cli(["convert", str(last), str(tmp_path / "official"), "--to", "official"]).code == 0
    assert run_cli(["convert", str(tmp_path / "official"), str(tmp_path / "back"), "--to", "native"]).code == 0
    _assert_equal(load_file(tmp_path / "back" / "model.safetensors"), native)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back", "native", "official"]  # no staging left


def test_resume_on_another_number_of_ranks(runs, tmp_path):
    """The 2-rank checkpoint of step 4 resumes on 1 rank (the reader reassembles the shards) and trains on; the
    data stream is split by rank, so the continuation is not the 2-rank one."""
    root, manifest = runs
    out = tmp_path / "one"
    shutil.copytree(root / "cut", out)
    script = tmp_path / "one_rank.py"
    script.write_text(_ONE_RANK)
    proc = subprocess.run([sys.executable, str(script), str(manifest), str(out), str(Path(__file__).parent),
                           str(STEPS + 1)], env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_losses(out / "logs" / f"from-step-{STEPS:08d}")) == 1  # one more step, on 1 rank
    state = _sharded(out / "checkpoints" / "last.ckpt")
    assert sorted(p.name for p in (out / "checkpoints" / "last.ckpt").iterdir()) == [".metadata", "__0_0.distcp",
                                                                                     "meta.pt"]
    assert int(state["ema.step"]) == STEPS + 1


class _Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_sharded_checkpoint_pickles_are_checked(runs, tmp_path):
    """A layout file that would run code, or a checkpoint whose writing did not finish, is refused in one line
    before any loader reads it, by `convert` and by `train --resume`."""
    root, manifest = runs
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    bad = tmp_path / "run" / "checkpoints" / "last.ckpt"
    shutil.copytree(root / "fsdp" / "checkpoints" / "last.ckpt", bad)
    (bad / ".metadata").write_bytes(pickle.dumps(_Boom(marker)))
    assert_refused(["convert", str(bad), str(tmp_path / "o")], "is not part of a checkpoint layout", tmp_path)
    assert_refused(["train", "--model", "debug", "--data", str(manifest), "--out", str(tmp_path / "run"), "--resume",
                    "--strategy", "fsdp", "--accelerator", "cpu", "--devices", "2"],
                   "is not part of a checkpoint layout", tmp_path)
    assert not marker.exists()
    (bad / ".metadata").write_bytes((root / "fsdp" / "checkpoints" / "last.ckpt" / ".metadata").read_bytes())
    (bad / "meta.pt").unlink()
    assert_refused(["convert", str(bad), str(tmp_path / "o")], "its writing did not finish", tmp_path)


def test_unsupported_strategy_and_accelerator_is_one_line(runs, tmp_path):
    """FSDP1's CPU-offload strategy on CPU (Lightning refuses it) and --strategy fsdp with LoRA: one error line,
    exit 2, nothing written."""
    _, manifest = runs
    base = ["train", "--model", "debug", "--data", str(manifest), "--out", str(tmp_path / "run"), "--max-steps", "1",
            "--accelerator", "cpu", "--devices", "2", "--no-progress", "--no-export"]
    assert_refused([*base, "--strategy", "fsdp", "--lora", "4"], "--strategy fsdp: not with --lora", tmp_path)
    assert_refused([*base, "--strategy", "fsdp_cpu_offload"],
                   "--strategy fsdp_cpu_offload, --accelerator cpu, --devices 2: The strategy `fsdp` requires a GPU",
                   tmp_path)


def test_clip_grad_norm_follows_torch():
    """The clipping used with sharded gradients, on whole tensors, scales like ``torch.nn.utils.clip_grad_norm_``.
    Tolerance: the norms of 37 float32 values summed in float32 (torch) or float64 (ours) differ by at most
    37 x 2^-24 relative (~2.2e-6); 1e-5 leaves room for the division."""
    from audiox.training.sharded import clip_grad_norm

    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(s)) for s in [(3, 4), (5,), (2, 2, 5)]]
    grads = [torch.randn(p.shape, generator=g) for p in params]
    for max_norm in (0.5, 100.0):  # clipped, and left alone
        for p, gr in zip(params, grads):
            p.grad = gr.clone()
        ref = [gr.clone() for gr in grads]
        want = torch.nn.utils.clip_grad_norm_([_with_grad(r) for r in ref], max_norm)
        got = clip_grad_norm(params, max_norm)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=0)
        for p, r in zip(params, ref):
            torch.testing.assert_close(p.grad, r, rtol=1e-5, atol=0)


def _with_grad(grad: torch.Tensor) -> torch.nn.Parameter:
    p = torch.nn.Parameter(torch.zeros(grad.shape))
    p.grad = grad  # clip_grad_norm_ scales this tensor in place
    return p


def _sharded_checkpoint(folder: Path, step: int) -> None:
    """A small torch.distributed.checkpoint folder laid out like the training's (one process, no group)."""
    import warnings

    import torch.distributed.checkpoint as dcp

    with warnings.catch_warnings():  # "torch.distributed is ... uninitialized, assuming ... a single process": yes
        warnings.filterwarnings("ignore", "torch.distributed is disabled", UserWarning)
        dcp.save({"state_dict": {"model.w": torch.full((3,), float(step))},
                  "optimizer_states": {"0": {"exp_avg": torch.zeros(3)}}}, checkpoint_id=str(folder), no_dist=True)
    torch.save({"global_step": step, "audiox": {}}, folder / "meta.pt")


_KILL_BETWEEN_RENAMES = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from audiox.training.sharded import link_folder

    renames, rename = [], os.rename
    def killing_rename(a, b):
        if renames:  # the second rename: partial -> last.ckpt
            os.kill(os.getpid(), signal.SIGKILL)
        renames.append(a)
        rename(a, b)
    os.rename = killing_rename
    link_folder(Path(sys.argv[1]), Path(sys.argv[2]))
""")


def test_resume_finishes_a_last_ckpt_swap_killed_between_its_renames(tmp_path):
    """SIGKILL between the two renames that swap a sharded last.ckpt (old one moved aside, new one not yet in
    place): no last.ckpt is left. A new run still refuses the folder; --resume's check renames the complete
    .last.ckpt.partial (step 4) into place and reads it; with that one incomplete, the previous one (step 2)."""
    from audiox.training.checks import check_run_folder
    from audiox.training.sharded import link_folder, load_sharded_state

    ckpts = tmp_path / "run" / "checkpoints"
    for step in (2, 4):
        _sharded_checkpoint(ckpts / f"step-{step:08d}.ckpt", step)
    last = ckpts / "last.ckpt"
    link_folder(ckpts / "step-00000002.ckpt", last)
    script = tmp_path / "kill.py"
    script.write_text(_KILL_BETWEEN_RENAMES)
    proc = subprocess.run([sys.executable, str(script), str(ckpts / "step-00000004.ckpt"), str(last)], env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    names = sorted(p.name for p in ckpts.iterdir())
    assert names == [".last.ckpt.old", ".last.ckpt.partial", "step-00000002.ckpt", "step-00000004.ckpt"]
    shutil.copytree(tmp_path / "run", tmp_path / "run2")

    with pytest.raises(ConfigError, match="already holds a run"):
        check_run_folder(tmp_path / "run", False)
    assert check_run_folder(tmp_path / "run", True)["global_step"] == 4
    assert sorted(p.name for p in ckpts.iterdir()) == [".last.ckpt.old", "last.ckpt", "step-00000002.ckpt",
                                                       "step-00000004.ckpt"]
    assert torch.equal(load_sharded_state(last)[0]["model.w"], torch.full((3,), 4.0))

    (tmp_path / "run2" / "checkpoints" / ".last.ckpt.partial" / "meta.pt").unlink()  # incomplete: the old one
    assert check_run_folder(tmp_path / "run2", True)["global_step"] == 2
