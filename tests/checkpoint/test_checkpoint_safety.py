"""Writing and loading weights when things go wrong: ``convert`` onto a full disk leaves nothing behind and names
the file; weights with NaN are refused at load, naming the tensor; a config that does not match the weights gives
one short line."""

from __future__ import annotations

import errno
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from harness import assert_refused, run_cli, snapshot  # noqa: E402

FULL_DISK = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'


def _partial_then(exc: BaseException):
    """A writer that leaves part of its file on disk, then fails like a full disk."""

    def write(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"\0" * 4096)
        raise exc

    return write


def _fail_safetensors(monkeypatch) -> None:
    import safetensors.torch
    from safetensors import SafetensorError

    monkeypatch.setattr(safetensors.torch, "save_file", _partial_then(SafetensorError(FULL_DISK)))


def test_convert_onto_a_full_disk_leaves_nothing_and_names_the_file(debug_model_dir, tmp_path, monkeypatch):
    _fail_safetensors(monkeypatch)
    dst = tmp_path / "deep" / "out"  # folders above the destination are created, and removed again
    res = assert_refused(["convert", str(debug_model_dir), str(dst), "--to", "native"],
                         f"{dst / 'model.safetensors'}: No space left on device", tmp_path, watch=[debug_model_dir])
    assert ".partial" not in res.stderr and ".tmp" not in res.stderr
    assert not (tmp_path / "deep").exists()


def test_convert_official_onto_a_full_disk(debug_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _partial_then(RuntimeError(
        "[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/3: file write "
        "failed")))
    dst = tmp_path / "out"
    assert_refused(["convert", str(debug_model_dir), str(dst), "--to", "official"],
                   f"{dst / 'model.ckpt'}: write failed (is the disk full?)", tmp_path, watch=[debug_model_dir])


def test_convert_config_copy_failing_names_the_final_file(debug_model_dir, tmp_path, monkeypatch):
    import audiox.checkpoint.native as native

    def copyfile(src, dst, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(native.shutil, "copyfile", copyfile)
    dst = tmp_path / "out"
    assert_refused(["convert", str(debug_model_dir), str(dst), "--to", "native"],
                   f"{dst / 'config.json'}: No space left on device", tmp_path, watch=[debug_model_dir])


def test_convert_into_an_existing_folder_changes_nothing_on_failure(debug_model_dir, tmp_path, monkeypatch):
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "notes.txt").write_text("mine")
    (dst / "config.json").write_text("{}")  # replaced with --force only when the whole conversion succeeds
    _fail_safetensors(monkeypatch)
    assert_refused(["convert", str(debug_model_dir), str(dst), "--to", "native", "--force"], "No space left",
                   tmp_path, watch=[debug_model_dir])
    monkeypatch.undo()
    res = run_cli(["convert", str(debug_model_dir), str(dst), "--to", "native", "--force"])
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no stage left beside it
    assert sorted(p.name for p in dst.iterdir()) == ["config.json", "model.safetensors", "notes.txt"]
    assert (dst / "config.json").read_bytes() == (debug_model_dir / "config.json").read_bytes()
    assert oct((dst / "model.safetensors").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_convert_to_a_new_folder_has_the_usual_mode(debug_model_dir, tmp_path):
    res = run_cli(["convert", str(debug_model_dir), str(tmp_path / "new"), "--to", "native"])
    assert res.code == 0, res.stderr
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _with_nan(debug_model_dir: Path, dst: Path, key: str) -> Path:
    from audiox.checkpoint.io import read_state_dict, write_safetensors

    shutil.copytree(debug_model_dir, dst)
    sd, meta = read_state_dict(dst / "model.safetensors")
    sd = {k: v.clone() for k, v in sd.items()}
    sd[key].view(-1)[0] = float("nan")
    meta.pop("audiox.memory_mapped", None)
    write_safetensors(dst / "model.safetensors", sd, meta)
    return dst


KEY = "model.model.transformer.layers.1.self_attn.to_qkv.weight"


def test_nan_weights_are_refused_at_load_naming_the_tensor(debug_model_dir, tmp_path):
    from audiox.checkpoint.official import load_model
    from audiox.errors import CheckpointError

    folder = _with_nan(debug_model_dir, tmp_path / "nan", KEY)
    with pytest.raises(CheckpointError, match=rf"tensor {KEY} has 1 non-finite values"):
        load_model(folder)
    res = assert_refused(["generate", "--model", str(folder), "--text", "rain", "-o", str(tmp_path / "o.wav")],
                         f"tensor {KEY} has 1 non-finite", tmp_path)
    assert "guidance" not in res.stderr and "diverged" not in res.stderr


def test_nan_weights_are_refused_by_init(debug_model_dir, tmp_path):
    from audiox.errors import CheckpointError
    from audiox.models.presets import build_model
    from audiox.training.run import warm_start

    folder = _with_nan(debug_model_dir, tmp_path / "nan", KEY)
    with pytest.raises(CheckpointError, match=rf"tensor {KEY} has 1 non-finite"):
        warm_start(build_model("debug", seed=0), str(folder))


@pytest.mark.parametrize("depth", [4, 200])
def test_config_mismatch_is_one_short_line_naming_the_first_keys(debug_model_dir, tmp_path, depth):
    from audiox.checkpoint.official import MAX_KEYS_MESSAGE

    folder = tmp_path / "m"
    shutil.copytree(debug_model_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["diffusion"]["config"]["depth"] = depth  # the weights have 2 blocks
    (folder / "config.json").write_text(json.dumps(cfg))
    res = assert_refused(["generate", "--model", str(folder), "--text", "rain", "-o", str(tmp_path / "o.wav")],
                         "does not match the model config", tmp_path)
    line = res.error_lines[0]
    assert len(line) <= len("error: ") + len(str(folder / "model.safetensors")) + 1 + MAX_KEYS_MESSAGE, len(line)
    assert f"{(depth - 2) * 15} missing (first: model.model.transformer.layers.2." in line


def test_snapshot_helper_sees_hidden_stages(tmp_path):
    """The refusal checks above rely on the snapshot listing hidden folders (the convert stage is one)."""
    (tmp_path / ".out.x1y2.partial").mkdir()
    assert ".out.x1y2.partial" in snapshot(tmp_path)
