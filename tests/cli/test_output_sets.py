"""Outputs are written as one unit: a killed or interrupted run leaves the old set or the new set, never a mix, and
its temporary files are gone after the next run (audiox/utils/files.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from audiox.utils.files import recover, write_together

REPO = Path(__file__).resolve().parents[2]


def _old_set(folder: Path) -> None:
    (folder / "a.wav").write_text("old wav")
    (folder / "a.json").write_text("old json")


def _kill_script(folder: Path, when: str) -> str:
    """A child that writes the new set and SIGKILLs itself while writing ('write') or between renames ('rename')."""
    return textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import audiox.utils.files as files
        folder = Path({str(folder)!r})
        def kill():
            os.kill(os.getpid(), signal.SIGKILL)
        if {when!r} == "rename":
            real = os.replace
            count = []
            def replace(a, b):
                if str(b).endswith(".json"):  # the second rename of the set
                    kill()
                count.append(1)
                real(a, b)
            files.os.replace = replace
        def second(tmp):
            Path(tmp).write_text("half")
            if {when!r} == "write":
                kill()
            Path(tmp).write_text("new json")
        files.write_together([(folder / "a.wav", lambda t: Path(t).write_text("new wav")),
                              (folder / "a.json", second)])
    """)


@pytest.mark.parametrize("when, expect", [("write", "old"), ("rename", "new")])
def test_sigkill_leaves_old_or_new_set(tmp_path, when, expect):
    _old_set(tmp_path)
    res = subprocess.run([sys.executable, "-c", _kill_script(tmp_path, when)], cwd=REPO)
    assert res.returncode == -signal.SIGKILL
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert leftovers  # the kill left temporary files (and, between renames, the journal)
    if when == "rename":
        assert any(n.endswith(".commit") for n in leftovers)
        assert (tmp_path / "a.wav").read_text() == "new wav" and (tmp_path / "a.json").read_text() == "old json"
    assert recover(tmp_path) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.wav"]
    assert (tmp_path / "a.wav").read_text() == f"{expect} wav"
    assert (tmp_path / "a.json").read_text() == f"{expect} json"


def test_recover_keeps_files_of_running_writers(tmp_path):
    live = tmp_path / f".a.wav.{os.getpid()}.abcd1234.tmp.wav"
    live.write_text("in progress")
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".b.wav.{child.stdout.strip()}.abcd1234.tmp.wav"
    dead.write_text("left by a killed run")
    other = tmp_path / ".hidden.tmp.wav"  # not one of ours: no pid in the name
    other.write_text("x")
    assert recover(tmp_path) == 1
    assert live.exists() and other.exists() and not dead.exists()


def test_failed_write_removes_everything_and_keeps_old_set(tmp_path):
    _old_set(tmp_path)

    def fail(tmp):
        Path(tmp).write_text("partial")
        raise OSError(28, "No space left on device", tmp)

    with pytest.raises(OSError):
        write_together([(tmp_path / "a.wav", lambda t: Path(t).write_text("new")), (tmp_path / "a.json", fail)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.wav"]
    assert (tmp_path / "a.wav").read_text() == "old wav"


def test_full_disk_is_one_error_line(tmp_path, monkeypatch, debug_model_dir):
    """The sidecar failing on a full disk: one line, exit 2, no output, no temporary file."""
    from harness import run_cli

    real = Path.write_text

    def full(self, *a, **k):
        if ".tmp.json" in self.name:
            raise OSError(28, "No space left on device", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    res = run_cli(["generate", "--model", str(debug_model_dir), "--text", "x", "--steps", "2", "--sampler", "euler",
                   "--no-progress", "-o", str(tmp_path / "o.wav")])
    assert res.code == 2 and res.stderr.strip().splitlines() == [
        f"error: {res.stderr.split('error: ')[1].strip()}"]
    assert "No space left on device" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_generation_cleans_up(tmp_path, debug_model_dir):
    """SIGTERM while sampling: exit 143, one error line, no output and no temporary file."""
    out = tmp_path / "o.wav"
    proc = subprocess.Popen([sys.executable, "-m", "audiox.cli", "generate", "--model", str(debug_model_dir),
                             "--text", "x", "--steps", "1000", "--sampler", "euler", "--seconds", "60", "-o",
                             str(out)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    err = ""
    while time.monotonic() < deadline:  # wait for the windows progress bar: sampling has started
        line = proc.stderr.readline()
        err += line
        if "windows" in line or not line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    lines = [ln for ln in (err + rest).splitlines() if ln.startswith("error:")]
    assert proc.returncode == 143, err + rest
    assert lines == ["error: stopped by SIGTERM"]
    assert "Traceback" not in err + rest
    assert list(tmp_path.iterdir()) == []


def test_sidecar_is_strict_json(tmp_path, pipe):
    result = pipe("a bell", steps=2, sampler="euler", seed=3)
    result.save(tmp_path / "o.wav")

    def refuse(name):
        raise AssertionError(f"{name} in the sidecar")

    meta = json.loads((tmp_path / "o.json").read_text(), parse_constant=refuse)
    assert meta["seed"] == 3 and meta["steps"] == 2
