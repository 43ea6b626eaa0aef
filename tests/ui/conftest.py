"""Fixtures of the web page's tests: where artifacts go, the example clip, and media files that are not media."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ui_harness import REPO

CHROMIUM = "/usr/bin/chromium"  # installed by scripts/sysdeps.sh (make test); never a downloaded build
EXAMPLE_VIDEO = REPO / "audiox" / "assets" / "builtin" / "examples" / "video.mp4"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Screenshots and the load test's memory report: ``$AUDIOX_UI_ARTIFACTS``, else ``ui-artifacts`` in
    pytest's base temporary folder (``/tmp/pytest-of-USER/pytest-N/ui-artifacts``)."""
    folder = Path(os.environ.get("AUDIOX_UI_ARTIFACTS") or tmp_path_factory.getbasetemp() / "ui-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (which downloads nothing here)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: run scripts/sysdeps.sh (make test does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=60_000)
        yield b
        b.close()


@pytest.fixture
def bad_media(tmp_path: Path) -> dict[str, Path]:
    """``notvideo.mp4``: a text file renamed; ``broken.mp4``: a real MP4 cut short (its index is lost)."""
    text = tmp_path / "notvideo.mp4"
    text.write_text("this is a text file, not a video\n")
    broken = tmp_path / "broken.mp4"
    data = EXAMPLE_VIDEO.read_bytes()
    broken.write_bytes(data[: len(data) * 4 // 5])
    return {"text": text, "broken": broken}
