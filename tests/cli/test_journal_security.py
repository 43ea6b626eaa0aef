"""Journals cannot point elsewhere (issue 24, item 2): a planted journal moves nothing, a folder copied after a
crash recovers within itself, and the recovery sweep deletes only the writer's own temporary files.

A journal names files by base name, relative to its folder; :func:`audiox.utils.files.recover` replays it only
when it is well formed and names this writer's temporary files there, and leaves anything else alone with one
warning line (audiox/utils/files.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from harness import run_cli, snapshot

from audiox.utils.files import read_journal, recover, temp_name

REPO = Path(__file__).resolve().parents[2]
FAST = ["--steps", "2", "--sampler", "euler", "--no-progress"]


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The process id of a child that has exited (no process runs under it now)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def _generate(model: Path, out: Path) -> object:
    return run_cli(["generate", "--model", str(model), "--text", "rain", "-o", str(out), *FAST])


def test_planted_journal_from_the_issue_moves_nothing(tmp_path, monkeypatch, debug_model_dir):
    """The reproduction of the issue: an absolute-path journal beside the output used to be replayed."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "payload.txt").write_text("secret\n")
    journal = work / ".o.wav.4194000.ab12.commit"
    journal.write_text(json.dumps([[f"{work}/payload.txt", f"{work}/../ESCAPED.txt"]]))
    res = _generate(debug_model_dir, work / "o.wav")
    assert res.code == 0, res.stderr
    assert (work / "payload.txt").read_text() == "secret\n"
    assert not (tmp_path / "ESCAPED.txt").exists()
    assert journal.exists()  # not one of ours (no 8-digit hex tag): left alone
    assert (work / "o.wav").is_file() and (work / "o.json").is_file()


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "subfolder", "other pid", "not a temp name", "list format",
                                  "duplicate key", "not JSON"])
def test_well_named_but_foreign_journal_is_left_alone(tmp_path, dead_pid, kind, caplog):
    """A journal with the writer's exact name pattern and a dead pid, whose content points elsewhere or is not
    what the writer writes: nothing moves, the journal stays, one warning line says so."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "payload.txt").write_text("secret")
    tmp = temp_name("o.wav", tag="0123abcd", pid=dead_pid)  # a real-looking temporary file of that writer
    (work / tmp).write_text("planted")
    (work / "sub" / tmp).write_text("planted")
    renames = {
        "absolute": [[str(work / tmp), str(tmp_path / "ESCAPED.txt")]],
        "dotdot": [[tmp, "../ESCAPED.txt"]],
        "subfolder": [[f"sub/{tmp}", "o.wav"]],
        "other pid": [[temp_name("o.wav", tag="0123abcd", pid=dead_pid + 1), "o.wav"]],
        "not a temp name": [["payload.txt", "o.wav"]],
    }
    if kind in renames:
        text = json.dumps({"journal": 1, "renames": renames[kind]})
    elif kind == "list format":  # the previous writer's format, absolute paths
        text = json.dumps([[str(work / tmp), str(work / "o.wav")]])
    elif kind == "duplicate key":
        text = f'{{"journal": 1, "renames": [["{tmp}", "o.wav"]], "renames": [["{tmp}", "../ESCAPED.txt"]]}}'
    else:
        text = "[[oops"
    journal = work / temp_name("o.wav", tag="89abcdef", kind="commit", pid=dead_pid)
    journal.write_text(text)
    before = snapshot(tmp_path)
    with caplog.at_level("WARNING"):
        assert recover(work) == 0
    assert snapshot(tmp_path) == before
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and journal.name in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()


def _kill_between_renames(out: Path, mux: Path) -> None:
    """A child writes a new (out, sidecar, mux) set over the old one and is SIGKILLed after the first rename."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import audiox.utils.files as files
        real = os.replace
        done = []
        def replace(a, b):
            if not str(b).endswith(".commit"):  # the journals are in; the set's renames start
                if done:
                    os.kill(os.getpid(), signal.SIGKILL)
                done.append(b)
            real(a, b)
        files.os.replace = replace
        out, mux = Path({str(out)!r}), Path({str(mux)!r})
        files.write_together([(out, lambda t: Path(t).write_text("new wav")),
                              (out.with_suffix(".json"), lambda t: Path(t).write_text("new json")),
                              (mux, lambda t: Path(t).write_text("new mp4"))])
    """)
    res = subprocess.run([sys.executable, "-c", script], cwd=REPO)
    assert res.returncode == -signal.SIGKILL


def _old_set(out: Path, mux: Path) -> None:
    out.write_text("old wav")
    out.with_suffix(".json").write_text("old json")
    mux.write_text("old mp4")


def test_journals_name_files_by_base_name_one_per_folder(tmp_path):
    """A set spread over two folders (``-o a/o.wav --mux b/o.mp4``) leaves one journal in each, with base names."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out, mux = tmp_path / "a" / "o.wav", tmp_path / "b" / "o.mp4"
    _old_set(out, mux)
    _kill_between_renames(out, mux)
    journals = sorted(tmp_path.rglob("*.commit"))
    assert [j.parent.name for j in journals] == ["a", "b"]
    for j in journals:
        for tmp, final in read_journal(j):
            assert "/" not in tmp and "/" not in final and tmp.startswith(f".{final}.")
    assert out.read_text() == "new wav" and out.with_suffix(".json").read_text() == "old json"
    assert recover(tmp_path / "a") == 2 and recover(tmp_path / "b") == 2  # one rename and the journal each
    assert (out.read_text(), out.with_suffix(".json").read_text(), mux.read_text()) == ("new wav", "new json",
                                                                                         "new mp4")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["o.json", "o.mp4", "o.wav"]


def test_folder_copied_after_a_crash_recovers_within_itself(tmp_path, debug_model_dir):
    """SIGKILL between renames, ``cp -a`` the folder, generate in the copy: the original does not change, and the
    copy ends with the whole new set."""
    orig = tmp_path / "orig"
    orig.mkdir()
    out = orig / "o.wav"
    _old_set(out, orig / "o.mp4")
    _kill_between_renames(out, orig / "o.mp4")
    assert any(p.name.endswith(".commit") for p in orig.iterdir())
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(orig), str(copy)], check=True)
    before = snapshot(orig)
    res = _generate(debug_model_dir, copy / "other.wav")  # recovers the copy's folder before writing
    assert res.code == 0, res.stderr
    assert snapshot(orig) == before
    assert [(copy / n).read_text() for n in ("o.wav", "o.json", "o.mp4")] == ["new wav", "new json", "new mp4"]
    assert sorted(p.name for p in copy.iterdir()) == ["o.json", "o.mp4", "o.wav", "other.json", "other.wav"]


def test_copied_folder_with_the_original_gone(tmp_path):
    """The copy recovers even when the original folder was moved away (nothing refers to it)."""
    orig = tmp_path / "orig"
    orig.mkdir()
    _old_set(orig / "o.wav", orig / "o.mp4")
    _kill_between_renames(orig / "o.wav", orig / "o.mp4")
    shutil.copytree(orig, tmp_path / "copy", symlinks=True)
    shutil.rmtree(orig)
    assert recover(tmp_path / "copy") > 0
    assert (tmp_path / "copy" / "o.json").read_text() == "new json"
    assert not orig.exists()


def test_recovery_keeps_look_alike_temp_files(tmp_path, dead_pid):
    """Only names of the writer's full pattern (pid, 8-hex-digit tag, '.tmp' + the final suffix, '.commit') go."""
    keep = [".notes.2023.final.tmp", f".notes.{dead_pid}.final.tmp", f".draft.wav.{dead_pid}.ABCDEF12.tmp.wav",
            f".draft.wav.{dead_pid}.0123abcd.tmp.flac", f".draft.{dead_pid}.0123abcd.tmp.wav",
            f".draft.wav.{dead_pid}.0123abcd.bak", f"notes.{dead_pid}.0123abcd.tmp", f".x.{dead_pid}.0123abc.tmp"]
    ours = [temp_name("a.wav", tag="0123abcd", pid=dead_pid), temp_name("notes", tag="fedcba98", pid=dead_pid)]
    for name in keep + ours:
        (tmp_path / name).write_text("user data")
    assert recover(tmp_path) == len(ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_empty_journal_is_an_unfinished_one(tmp_path, dead_pid):
    """A writer killed after reserving its journal name, before the journal's text moved in: nothing was renamed,
    so the journal and the temporary files go and the old set stays."""
    (tmp_path / "o.wav").write_text("old")
    (tmp_path / temp_name("o.wav", tag="0123abcd", pid=dead_pid)).write_text("new")
    (tmp_path / temp_name("o.wav", tag="89abcdef", kind="commit", pid=dead_pid)).write_text("")
    assert recover(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["o.wav"] and (tmp_path / "o.wav").read_text() == "old"
