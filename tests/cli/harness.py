"""Shared checks for the bad-input tables: one ``error:`` line, exit status 2, no traceback, nothing changed.

A case runs ``audiox.cli.main(argv)`` in this process (fast: no interpreter start per case). Any exception that
escapes ``main`` is a traceback a user would see, and fails the case. The folder the case works in is
snapshotted before and after (every path, its type, size and content hash): a refused command must leave it
exactly as it was, so no output, no temporary file, no created folder and no changed input.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under ``root``: (kind, size, sha1 of the content; for files over 1 MiB, mtime_ns)."""
    out: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            out[str(p.relative_to(root))] = ("dir", 0, "")
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink() or not p.is_file():
                out[str(p.relative_to(root))] = ("other", 0, "")
                continue
            st = p.stat()
            if st.st_size > 1 << 20:  # big inputs: size and modification time (a rewrite changes mtime_ns)
                out[str(p.relative_to(root))] = ("file", st.st_size, str(st.st_mtime_ns))
                continue
            data = p.read_bytes()
            out[str(p.relative_to(root))] = ("file", len(data), hashlib.sha1(data).hexdigest())
    return out


def run_cli(argv: list[str]) -> Outcome:
    """``audiox.cli.main(argv)`` with stdout/stderr captured (log records included)."""
    from audiox.cli import main

    err, out = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse's own exit (e.g. --help) is still an exit, not a traceback
                code = e.code if isinstance(e.code, int) else 1
    finally:
        root.removeHandler(handler)
    return Outcome(int(code), err.getvalue(), out.getvalue())


def assert_refused(argv: list[str], expect: str, root: Path, *, watch: list[Path] = ()) -> Outcome:
    """Run ``argv``; it must exit 2 with one ``error:`` line containing ``expect`` and change nothing under ``root``.

    Args:
        watch: more folders (outside ``root``) that must stay unchanged.
    """
    folders = [root, *watch]
    before = [snapshot(f) for f in folders]
    res = run_cli(argv)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.code == 2, f"exit {res.code}; stderr:\n{res.stderr}"
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert expect.lower() in res.error_lines[0].lower(), f"{expect!r} not in {res.error_lines[0]!r}"
    for f, b in zip(folders, before, strict=True):
        after = snapshot(f)
        assert after == b, f"{f} changed: added {sorted(set(after) - set(b))}, removed {sorted(set(b) - set(after))}"
    return res


def write_video(path: Path, seconds: float, fps: int = 5, size: int = 32, codec: str = "mpeg4") -> Path:
    """A small valid video whose frames change (grey levels), in any container and codec PyAV writes."""
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((size, size, 3), (i * 13) % 256, dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
