"""``synth build`` on a nearly full disk gives its figures in MB, not "needs 0.0 GB, only 0.0 GB are free"."""

from __future__ import annotations

import shutil
from collections import namedtuple

from harness import assert_refused

Usage = namedtuple("Usage", "total used free")


def test_disk_figures_under_a_gigabyte_are_in_megabytes(tmp_path, monkeypatch):
    free = 3_000_000  # 3 MB left; 10 clips of 10 s stereo 16-bit at 44.1 kHz need 17.6 MB
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**10, 10**10 - free, free))
    argv = ["synth", "build", "--out", str(tmp_path / "c"), "--n", "10", "--seconds", "10", "--channels", "2",
            "--sample-rate", "44100", "--workers", "1", "--no-progress"]
    assert_refused(argv, "the audio alone needs 17.6 MB, only 3.0 MB are free", tmp_path)


def test_size_units():
    from audiox.commands.synth import _size

    assert [_size(b) for b in (0, 999_999, 5e8, 1e9, 3.25e11)] == ["0.0 MB", "1.0 MB", "500.0 MB", "1.0 GB",
                                                                  "325.0 GB"]
