"""Training runs that end badly: Lightning's own checkpoint loading is weights-only, a killed checkpoint write is
swept on ``--resume``, a checkpoint of another model is refused before the run folder changes, and Ctrl-C exits
130 with one line (not Lightning's notice and exit 1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train_resume import _WRITER
from test_train_utils import make_corpus, train_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from harness import run_cli, snapshot  # noqa: E402


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _train(manifest: Path, out: Path, steps: int, *, resume: bool = False, model=None):
    from audiox.models.presets import build_model
    from audiox.training.run import train

    cfg = train_config(max_steps=steps, checkpoint_every=1)
    return train(model or build_model("debug", seed=0), str(manifest), out, cfg, accelerator="cpu", devices=1,
                 resume=resume, progress=False, export=False)


def test_atomic_checkpoint_io_loads_weights_only(tmp_path: Path) -> None:
    from audiox.errors import CheckpointError
    from audiox.training.callbacks import AtomicCheckpointIO

    marker = tmp_path / "MARKER"
    torch.save({"global_step": _Payload(marker)}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="refused: it holds posix.system"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "evil.ckpt", weights_only=False)  # asked unsafe: still safe
    assert not marker.exists()
    AtomicCheckpointIO().save_checkpoint({"global_step": 3, "state_dict": {"w": torch.ones(2)}}, tmp_path / "ok.ckpt")
    assert AtomicCheckpointIO().load_checkpoint(tmp_path / "ok.ckpt")["global_step"] == 3


def test_lightning_resume_loads_through_the_safe_loader(tmp_path: Path, monkeypatch, one_thread) -> None:
    """With the pre-check bypassed, Lightning's own load of ``last.ckpt`` (``trainer.fit(ckpt_path=...)``) meets
    the payload: it is refused there too, and no code runs."""
    import audiox.training.checks as checks
    from audiox.errors import CheckpointError

    manifest = make_corpus(tmp_path / "data", n_text=2)
    out = tmp_path / "run"
    marker = tmp_path / "MARKER"
    last = out / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"global_step": _Payload(marker), "state_dict": {}}, last)
    monkeypatch.setattr(checks, "check_resume", lambda out, **kw: {"global_step": 0, "state_dict": {}})
    monkeypatch.setattr(checks, "check_resume_state", lambda *a, **kw: None)
    with pytest.raises(CheckpointError, match="refused: it holds posix.system"):
        _train(manifest, out, 2, resume=True)
    assert not marker.exists()


def test_resume_sweeps_the_temp_file_of_a_killed_checkpoint_write(tmp_path: Path, one_thread) -> None:
    manifest = make_corpus(tmp_path / "data", n_text=2)
    out = tmp_path / "run"
    _train(manifest, out, 1)
    ckpts = out / "checkpoints"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(ckpts / "last.ckpt")], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    left = [p for p in ckpts.iterdir() if p.name.startswith(".last.ckpt.")]
    assert len(left) == 1 and f".{proc.pid}." in left[0].name  # the killed writer's temp file, 1 MiB
    lookalike = ckpts / ".notes.2023.final.tmp"  # a user's file that only looks like a temp file
    lookalike.write_text("keep me")
    summary = _train(manifest, out, 2, resume=True)
    assert summary["steps"] == 2
    assert not left[0].exists()
    assert lookalike.read_text() == "keep me"
    assert sorted(p.name for p in ckpts.iterdir()) == [".notes.2023.final.tmp", "last.ckpt", "step-00000001.ckpt",
                                                       "step-00000002.ckpt"]


def test_resume_with_another_model_is_one_line_before_the_run_changes(tmp_path: Path, one_thread) -> None:
    from audiox.config import config_to_json, load_config
    from audiox.errors import CheckpointError
    from audiox.models.presets import build_model, get_preset

    manifest = make_corpus(tmp_path / "data", n_text=2)
    out = tmp_path / "run"
    _train(manifest, out, 1)
    d = json.loads(config_to_json(get_preset("debug")))
    d["model"]["diffusion"]["config"]["depth"] = 3  # one more DiT block than the run's model
    (tmp_path / "deeper.json").write_text(json.dumps(d))
    deeper = load_config(tmp_path / "deeper.json")
    before = snapshot(out)
    with pytest.raises(CheckpointError) as ei:
        _train(manifest, out, 2, resume=True, model=build_model(deeper, seed=0))
    msg = str(ei.value)
    assert "--resume checkpoint does not match the model config" in msg and "missing (first: " in msg
    assert "\n" not in msg and len(msg) < len(str(out / "checkpoints" / "last.ckpt")) + 320
    assert snapshot(out) == before


@pytest.fixture
def default_sigint():
    """SIGINT at Python's default handler and unblocked, as in a fresh ``audiox`` process, whatever earlier
    in-process tests of the suite left; restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    signal.signal(signal.SIGINT, previous)


def _interrupt_at_step(monkeypatch, cls, step: int) -> None:
    """Ctrl-C (a real SIGINT to this process) during training step ``step``."""
    original = cls.training_step

    def training_step(self, batch, batch_idx):
        if self.trainer.global_step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(cls, "training_step", training_step)


def test_ctrl_c_during_train_exits_130_with_one_line(tmp_path: Path, monkeypatch, one_thread, default_sigint) -> None:
    from audiox.training.module import AudioXTrainingModule

    manifest = make_corpus(tmp_path / "data", n_text=2)
    _interrupt_at_step(monkeypatch, AudioXTrainingModule, 1)
    handler = signal.getsignal(signal.SIGINT)
    res = run_cli(["train", "--data", str(manifest), "--out", str(tmp_path / "run"), "--max-steps", "5",
                   "--batch-size", "2", "--demo-every", "0", "--no-export", "--no-progress", "--accelerator", "cpu"])
    assert res.code == 130, res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.strip()] == ["error: interrupted"], res.stderr
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning left SIGINT ignored; restored


def test_ctrl_c_during_train_vae_exits_130_with_one_line(tmp_path: Path, monkeypatch, one_thread,
                                                         default_sigint) -> None:
    from audiox.training.autoencoder import VAETrainingModule

    manifest = make_corpus(tmp_path / "data", n_text=2)
    _interrupt_at_step(monkeypatch, VAETrainingModule, 1)
    res = run_cli(["train-vae", "--model", "debug", "--data", str(manifest), "--out", str(tmp_path / "vae"),
                   "--crop", "1024", "--batch-size", "2", "--max-steps", "5", "--accelerator", "cpu",
                   "--no-progress"])
    assert res.code == 130, res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.strip()] == ["error: interrupted"], res.stderr
