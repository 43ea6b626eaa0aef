"""The page end to end in headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright; no browser is
downloaded): load it offline, run text-to-audio and video-to-audio with the built-in model, refuse bad uploads.

One server serves the module; each test gets a fresh page. Screenshots go to the ``artifacts`` folder
(see ``conftest.py``): ``page-before.png``, ``text-to-audio-after.png``, ``video-to-audio-after.png``,
``bad-upload-*.png``, ``inpaint-after.png``.
"""

from __future__ import annotations

import io

import av
import pytest
import soundfile as sf
from conftest import EXAMPLE_VIDEO
from ui_harness import Server

RUN_TIMEOUT_MS = 120_000  # one generation on a busy 2-core machine, with margin
STEPS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("ui-browser"), "--max-queue", "4")
    yield srv
    code = srv.stop()
    assert code in (0, 143), srv.log.read_text()  # 143: stopped by SIGTERM, cleanly
    assert not list(srv.tmp.glob("audiox-ui-*")), "the server left its temporary folder behind"


@pytest.fixture
def page(browser, server):
    """A fresh page of the server; ``page.seen_urls`` lists every request it made."""
    pg = browser.new_page(viewport={"width": 1280, "height": 1400})
    pg.set_default_timeout(30_000)
    pg.seen_urls = []
    pg.on("request", lambda r: pg.seen_urls.append(r.url))
    pg.goto(server.url)
    pg.wait_for_selector("#result-audio")
    yield pg
    pg.close()


def _set_number(page, label: str, value: float) -> None:
    box = page.get_by_label(f"number input for {label}")
    box.fill(f"{value:g}")
    box.press("Enter")


def _generate(page, *, seconds: float) -> set[str]:
    """Set few steps and the duration, press Generate, wait for the result; returns the progress texts shown."""
    page.get_by_text("Sampler", exact=True).click()
    _set_number(page, "Steps", STEPS)
    _set_number(page, "Duration (s)", seconds)
    page.evaluate("""() => { window.__progress = new Set(); new MutationObserver(() => {
        document.querySelectorAll('[data-testid=status-tracker]').forEach(e => {
            const t = e.innerText.trim(); if (t) window.__progress.add(t); }); })
        .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Done')",
                           timeout=RUN_TIMEOUT_MS)
    return set(page.evaluate("() => Array.from(window.__progress)"))


def _played_audio(page) -> bytes:
    """The WAV the result player loaded: the one its download button links to, fetched by the page."""
    href = page.get_attribute("#result-audio a[href]", "href")
    assert href and href.endswith(".wav"), href
    page.locator("#result-audio button[aria-label=Play]").click()
    assert href in page.seen_urls, "the player did not load the result"
    return page.request.get(href).body()


def _settings_shown(page, text: str) -> None:
    """Wait until the settings viewer (scrolled into view: it renders what is seen) shows ``text``."""
    page.locator("#result-settings").scroll_into_view_if_needed()
    page.wait_for_function(f"() => document.querySelector('#result-settings').innerText.includes({text!r})")


def _duration(wav: bytes) -> float:
    info = sf.info(io.BytesIO(wav))
    return info.frames / info.samplerate


def test_page_loads_with_no_request_off_this_machine(page, server, artifacts):
    page.screenshot(path=artifacts / "page-before.png", full_page=True)
    for name in ("Text", "Negative text"):
        assert page.get_by_label(name, exact=True).count() == 1
    page.get_by_role("tab", name="Audio").click()
    assert page.get_by_label("Inpaint ranges (seconds)", exact=True).count() == 1
    assert page.get_by_role("button", name="Generate").is_visible()
    assert page.get_by_text("Examples").count() >= 1
    offsite = [u for u in page.seen_urls if not u.startswith((server.url, "data:", "blob:"))]
    assert offsite == [], offsite


def test_text_to_audio(page, artifacts):
    page.get_by_label("Text", exact=True).fill("Heavy rain falls on a tin roof.")
    progress = _generate(page, seconds=2)
    page.screenshot(path=artifacts / "text-to-audio-after.png", full_page=True)
    assert any(f"/{STEPS} steps" in t for t in progress), progress  # the sampler's progress was on the page
    assert _duration(_played_audio(page)) == pytest.approx(2.0, abs=1e-3)
    _settings_shown(page, "dpmpp-3m-sde")
    settings = "".join(page.inner_text("#result-settings").split())  # the viewer puts tokens on lines of their own
    assert '"Heavyrainfallsonatinroof."' in settings and f'"steps":{STEPS},' in settings, settings
    assert page.get_attribute("#result-spectrogram img", "src").endswith(".png")
    assert page.get_attribute("#result-wav a[href]", "href").endswith(".wav")


def test_video_to_audio(page, artifacts):
    page.get_by_role("tab", name="Video").click()
    page.locator("#input-video input[type=file]").set_input_files(str(EXAMPLE_VIDEO))
    page.wait_for_selector("video", state="attached")
    _generate(page, seconds=3)
    page.screenshot(path=artifacts / "video-to-audio-after.png", full_page=True)
    assert _duration(_played_audio(page)) == pytest.approx(3.0, abs=1e-3)
    src = page.get_attribute("#result-video video", "src")
    assert src and src.endswith(".mp4"), src
    with av.open(io.BytesIO(page.request.get(src).body())) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1


@pytest.mark.parametrize("which, expect", [("text", "not a decodable media file"), ("broken", "")])
def test_bad_upload_shows_a_message_and_leaves_nothing(page, server, bad_media, artifacts, which, expect):
    upload = bad_media[which]
    page.get_by_role("tab", name="Video").click()
    page.locator("#input-video input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Generate").click()
    toast = page.locator("[data-testid=toast-text]", has_text=f"{upload.name}:")
    toast.first.wait_for(timeout=RUN_TIMEOUT_MS)
    message = toast.first.inner_text()
    page.screenshot(path=artifacts / f"bad-upload-{which}.png", full_page=True)
    assert expect in message and "Traceback" not in message and str(server.temp_dir) not in message, message
    assert "Done" not in page.inner_text("#status")  # nothing was generated
    left = [p for p in server.files() if p.name == upload.name]
    assert left == [], f"the refused upload is still on the server: {left}"


def test_inpaint_ranges_drawn_on_the_clip(page, tmp_path, artifacts):
    import numpy as np

    clip = tmp_path / "take.wav"
    t = np.arange(4 * 16000) / 16000
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    page.get_by_role("tab", name="Audio").click()
    page.locator("#input-audio input[type=file]").set_input_files(str(clip))
    picture = page.locator("#picker img[src*='picker.png']")
    picture.wait_for()
    box = picture.bounding_box()
    picture.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    picture.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    ranges = page.get_by_label("Inpaint ranges (seconds)", exact=True)
    page.wait_for_function("() => /\\d-\\d/.test(document.querySelector('textarea[placeholder^=\"e.g. 2.0\"]').value)")
    start, end = (float(v) for v in ranges.input_value().split("-"))
    assert start == pytest.approx(1.0, abs=0.1) and end == pytest.approx(2.0, abs=0.1)
    _generate(page, seconds=4)
    page.screenshot(path=artifacts / "inpaint-after.png", full_page=True)
    assert _duration(_played_audio(page)) == pytest.approx(4.0, abs=1e-3)
    _settings_shown(page, "inpaint")
    assert f"{start:g}" in page.inner_text("#result-settings")
