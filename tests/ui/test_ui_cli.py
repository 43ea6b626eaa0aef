"""``audiox ui`` without a server: help without Gradio, a taken port refused before the model loads, and the
small pure parts of the page (ranges, messages, upload paths)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from audiox.errors import InputError


def test_help_imports_neither_gradio_nor_torch():
    code = ("import sys\nfrom audiox.cli import main\ntry:\n    main(['ui', '--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\nprint('gradio' in sys.modules, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "--max-queue" in out.stdout and "--concurrency" in out.stdout and "127.0.0.1" in out.stdout
    assert out.stdout.strip().endswith("False False"), out.stdout


def test_a_taken_port_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "cli"))
    from harness import assert_refused

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = assert_refused(["ui", "--port", str(port)], f"--port {port}: cannot listen on 127.0.0.1:{port}", tmp_path)
    assert res.stdout == ""  # refused before the model loads (that prints the serving line)


def test_ranges_from_clicks_and_text():
    from audiox.ui.generate import split_ranges
    from audiox.ui.ranges import add_click, parse_loose

    assert split_ranges(" 1-2, 3.5-4;5-6 ") == ["1-2", "3.5-4", "5-6"] and split_ranges("  ") is None
    text, pending = add_click("", None, 0, 101, 10.0)  # first click: a pending start at 0 s
    assert (text, pending) == ("", 0.0)
    text, pending = add_click(text, pending, 50, 101, 10.0)  # second click: the range 0-5 s
    assert (text, pending) == ("0-5", None)
    text, pending = add_click(text, None, 100, 101, 10.0)  # a range clicked end first
    text, pending = add_click(text, pending, 80, 101, 10.0)
    assert text == "0-5, 8-10" and pending is None
    assert parse_loose("0-5, bogus, 9-7, 8-10") == [(0.0, 5.0), (8.0, 10.0)]


def test_messages_name_the_page_controls():
    """The request's refusals, worded with the page's labels (no command-line flag, no --no-limits hint)."""
    from audiox.errors import RequestError
    from audiox.pipeline.request import GenerationRequest
    from audiox.ui.generate import PAGE_LIMITS, page_name

    def refusal(**values) -> str:
        with pytest.raises(RequestError) as e:
            GenerationRequest(**values, limits=PAGE_LIMITS)
        return e.value.worded(page_name)

    assert refusal(cfg_scale=0) == "guidance scale: must be > 0, got 0"
    assert refusal(text="x", inpaint=["1-2"]) == "inpaint ranges / continue need audio"
    assert refusal(cfg_scale=31.0) == "guidance scale: 31 is more than the limit of 30"
    assert refusal(seconds=31.0) == "duration: the output would be 31 s, more than the limit of 30 s"


def test_upload_paths_must_be_uploads(tmp_path):
    from audiox.ui.uploads import Upload, discard, upload_path

    root = tmp_path / "root"
    (root / "abc").mkdir(parents=True)
    f = root / "abc" / "clip.wav"
    f.write_bytes(b"x")
    assert upload_path({"path": str(f), "orig_name": "mine.wav"}, root, "audio") == Upload(f.resolve(), "mine.wav")
    assert upload_path({"video": {"path": str(f)}}, root, "video").name == "clip.wav"
    assert upload_path(None, root, "audio") is None
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    for bad in ({"path": str(outside)}, {"path": str(root / "abc" / ".." / ".." / "secret.txt")}, {"path": ""}):
        with pytest.raises(InputError):
            upload_path(bad, root, "audio")
    discard(Upload(f.resolve(), "mine.wav"), root)
    assert not f.exists() and not (root / "abc").exists() and root.is_dir()
    with pytest.raises(InputError, match="upload is gone"):
        upload_path({"path": str(f)}, root, "audio")
