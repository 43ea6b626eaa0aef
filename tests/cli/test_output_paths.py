"""Output paths are resolved and checked before any work (issue 24, item 4): a name fits the file system together
with the temporary names written beside it, and a folder on a full file system is refused up front."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from harness import assert_refused, run_cli

from audiox.utils.files import longest_temp_name

FAST = ["--steps", "2", "--sampler", "euler", "--no-progress"]


def _longest_stem(folder: Path, suffix: str) -> int:
    """The longest stem of a ``suffix`` file whose temporary names still fit ``folder``'s file system."""
    extra = len(longest_temp_name("x" + suffix)) - len("x" + suffix)
    return os.pathconf(folder, "PC_NAME_MAX") - extra - len(suffix)


def test_longest_accepted_name_is_written_and_one_more_is_refused(tmp_path, debug_model_dir):
    """The bound is the real one: a 254-byte name used to be accepted and then fail after generating, naming the
    hidden temporary file. The sidecar (``.json``, one byte longer than ``.wav``) sets the bound."""
    stem = _longest_stem(tmp_path, ".json")
    name = "n" * stem + ".wav"
    res = run_cli(["generate", "--model", str(debug_model_dir), "--text", "x", "-o", str(tmp_path / name), *FAST])
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "n" * stem + ".json"])
    longer = "m" + name
    assert_refused(["generate", "--model", str(debug_model_dir), "--text", "x", "-o", str(tmp_path / longer)],
                   f"sidecar {tmp_path / longer[:-4]}.json: the name is too long for this file system "
                   f"({stem + 6} bytes; at most {stem + 5}", tmp_path)


def test_longest_mux_name_is_written_and_one_more_is_refused(tmp_path, debug_model_dir):
    from harness import write_video

    video = write_video(tmp_path / "in.mp4", 2.0)
    stem = _longest_stem(tmp_path, ".mp4")
    argv = ["generate", "--model", str(debug_model_dir), "--video", str(video), "-o", str(tmp_path / "o.wav")]
    res = run_cli([*argv, "--mux", str(tmp_path / ("v" * stem + ".mp4")), *FAST])
    assert res.code == 0, res.stderr
    assert (tmp_path / ("v" * stem + ".mp4")).stat().st_size > 0
    assert_refused([*argv, "--mux", str(tmp_path / ("w" * (stem + 1) + ".mp4"))], "--mux", tmp_path)


def test_folder_name_too_long_is_refused(tmp_path, debug_model_dir):
    (tmp_path / "j.jsonl").write_text(json.dumps({"text": "x", "out": "d" * 300 + "/o.wav"}) + "\n")
    assert_refused(["generate", "--model", str(debug_model_dir), "--batch", str(tmp_path / "j.jsonl"), "--out-dir",
                    str(tmp_path / "o")], "j.jsonl:1: out", tmp_path)


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """``os.statvfs`` reports no free block for the case folder (and what is under it)."""
    real = os.statvfs

    def statvfs(path):
        st = real(path)
        if not str(os.path.realpath(path)).startswith(str(tmp_path.resolve())):
            return st
        return os.statvfs_result((st.f_bsize, st.f_frsize, st.f_blocks, 0, 0, st.f_files, st.f_ffree,
                                  st.f_favail, st.f_flag, st.f_namemax))

    monkeypatch.setattr(os, "statvfs", statvfs)


@pytest.mark.parametrize("argv, expect", [
    (["--text", "x", "-o", "@/o.wav"], "cannot take a new file: its file system is full"),
    (["--batch", "@/j.jsonl", "--out-dir", "@/new"], "cannot create it, the file system of"),
    (["--batch", "@/j.jsonl", "--out-dir", "@"], "the folder cannot take new files"),
])
def test_full_file_system_is_refused_up_front(tmp_path, debug_model_dir, full_disk, argv, expect):
    (tmp_path / "j.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
    argv = [a.replace("@", str(tmp_path)) for a in argv]
    assert_refused(["generate", "--model", str(debug_model_dir), *argv], expect, tmp_path)
