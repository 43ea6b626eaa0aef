"""Load: bursts of concurrent requests through ``gradio_client`` to a server with a small queue (127.0.0.1 only).

Every request either completes with audio of the requested length or is refused with the queue-full message;
none is lost or hangs (each wait is bounded). The server's peak memory (``VmHWM``) after a burst of 20 is no
higher than after a burst of 5 (plus allocator noise): waiting requests cost no generation memory. The numbers
go to ``load-memory.json`` in the artifacts folder (see ``conftest.py``).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait

import pytest
import soundfile as sf
from ui_harness import Server

MAX_QUEUE = 3
SECONDS = 2.0
JOB_TIMEOUT_S = 240.0  # the last request of a burst waits for every accepted one before it
NOISE_KIB = 96 * 1024  # allocator and import noise between bursts


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("ui-load"), "--max-queue", str(MAX_QUEUE), "--concurrency", "1")
    yield srv
    assert srv.stop() in (0, 143), srv.log.read_text()
    assert not list(srv.tmp.glob("audiox-ui-*")), "the server left its temporary folder behind"


def _submit(client, n: int, seed0: int, *, seconds: float = SECONDS, steps: int = 4) -> list:
    return [client.submit(text="rain on a tin roof", negative="", video=None, image=None, audio=None, inpaint="",
                          continue_audio=False, kind="sound", seconds=seconds, steps=steps, cfg_scale=7.0,
                          sampler="dpmpp-3m-sde", seed=seed0 + i, random_seed=False, api_name="/generate")
            for i in range(n)]


def _burst(client, n: int, seed0: int) -> tuple[int, int]:
    """Submit ``n`` requests at once; returns (completed, refused). Fails on any other outcome or a hang."""
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    jobs = _submit(client, n, seed0)
    completed = refused = 0
    deadline = time.monotonic() + JOB_TIMEOUT_S
    for job in jobs:
        try:
            result = job.result(timeout=max(1.0, deadline - time.monotonic()))
        except (FutureTimeout, TimeoutError):
            pytest.fail(f"a request hung for {JOB_TIMEOUT_S:g} s")
        except (QueueError, AppError) as e:
            assert "queue is full" in str(e).lower(), f"a request failed other than by a full queue: {e!r}"
            refused += 1
            continue
        wav = sf.info(result[1])
        assert wav.frames / wav.samplerate == pytest.approx(SECONDS, abs=1e-3)
        assert result[4] == seed0 + jobs.index(job)  # the seed used, shown in the page
        completed += 1
    assert completed + refused == n, "a request was lost"
    return completed, refused


def test_bursts_complete_or_are_refused_and_memory_stays_flat(server, artifacts):
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=str(server.tmp / "downloads"))
    report = {"max_queue": MAX_QUEUE, "concurrency": 1}
    assert _burst(client, 1, 0) == (1, 0)  # warm-up: first-call allocations are not counted against a burst
    for n, seed0 in ((5, 1000), (20, 2000)):
        t0 = time.monotonic()
        completed, refused = _burst(client, n, seed0)
        report[f"after_{n}"] = {"completed": completed, "refused": refused, "seconds": round(time.monotonic() - t0, 2),
                                **{k: v for k, v in server.memory().items()}}
        assert completed >= 1
    (artifacts / "load-memory.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    after5, after20 = report["after_5"], report["after_20"]
    assert after20["refused"] >= 1, report  # 20 at once overflow a queue of 3
    assert after20["completed"] >= MAX_QUEUE, report  # the queue was filled, not refused wholesale
    assert after20["VmHWM"] <= after5["VmHWM"] + NOISE_KIB, report
    results = [p for p in (server.temp_dir / "results").iterdir()]
    assert len(results) == 1 + after5["completed"] + after20["completed"]


def test_a_full_queue_is_said_on_the_page(server, browser, artifacts):
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=str(server.tmp / "downloads"))
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    jobs = []
    try:
        page.goto(server.url)
        assert "wait in line" in page.inner_text("#queue-note")
        page.get_by_label("Text", exact=True).fill("a dog barks")
        jobs = _submit(client, MAX_QUEUE + 2, 3000, seconds=10.0, steps=150)  # each holds its place for seconds
        time.sleep(2.0)  # let them reach the server's queue
        page.get_by_role("button", name="Generate").click()
        toast = page.locator("[data-testid=toast-text]", has_text="currently busy")
        toast.first.wait_for(timeout=30_000)
        page.screenshot(path=artifacts / "queue-full.png", full_page=True)
    finally:
        page.close()
        for job in jobs:  # leave the line: the waiting ones are cancelled, the running one ends on its own
            job.cancel()
        _, pending = wait([job.future for job in jobs], timeout=JOB_TIMEOUT_S)
        assert not pending, "a request neither ended nor left the line"
