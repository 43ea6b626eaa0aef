"""``audiox evaluate benchmark``: generate from a benchmark's prompts or videos, resumably, then score.

Generation goes through the ``generate --batch`` job machinery (:mod:`audiox.pipeline.jobs`): one job per item,
written to ``OUT/generated/<name>.wav`` with its ``.json`` sidecar as one unit, so a killed run leaves each job
done or not started. A job is done when its audio and sidecar both exist and the sidecar records the same request
(prompt, video, seconds, steps, seed); done jobs are kept and skipped. Item ``i`` uses seed ``seed + i``, so an
output does not depend on which items were already done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiox.evaluation.benchmarks import BenchItem
from audiox.pipeline.jobs import Job, parse_job, prepare_outputs, run_jobs

log = logging.getLogger(__name__)

GENERATED = "generated"  # sub-folder of --out with the generated clips


def benchmark_jobs(items: Sequence[BenchItem], out_dir: Path, *, seconds: float | None, steps: int | None,
                   seed: int, progress: bool = False) -> list[Job]:
    """One job per item, its output ``out_dir/generated/<name>.wav``.

    Args:
        items: the benchmark items.
        out_dir: the benchmark's output folder.
        seconds: output length (None: the model's window).
        steps: sampler steps (None: the model's).
        seed: seed of item 0; item ``i`` uses ``seed + i``.
        progress: show each job's sampler bar.
    """
    jobs = []
    for i, item in enumerate(items):
        raw: dict[str, Any] = {"text": item.text, "seed": seed + i, "out": f"{GENERATED}/{item.name}.wav"}
        if item.video is not None:
            raw["video"] = str(item.video)
        if seconds is not None:
            raw["seconds"] = seconds
        if steps is not None:
            raw["steps"] = steps
        jobs.append(parse_job(raw, where=f"{item.name}", out_dir=out_dir, progress=progress))
    return jobs


def is_done(job: Job) -> bool:
    """The job's audio and sidecar exist and the sidecar records the job's prompt, video and seed (and its steps,
    when the job sets them): a finished output of other settings is generated again."""
    if not (job.out.is_file() and job.sidecar.is_file()):
        return False
    try:
        meta = json.loads(job.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    req = job.request
    text = meta.get("text")
    want: dict[str, Any] = {"text": req.text, "seed": req.seed, "video": req.video is not None}
    got: dict[str, Any] = {"text": text[0] if isinstance(text, list) and len(text) == 1 else text,
                           "seed": meta.get("seed"), "video": meta.get("video") is not None}
    if req.steps is not None:
        want["steps"], got["steps"] = req.steps, meta.get("steps")
    return got == want


def generate(pipe_factory: Any, jobs: list[Job]) -> tuple[int, int]:
    """Generate the jobs that are not done (:func:`is_done`), with a bar over them.

    Args:
        pipe_factory: ``() -> AudioXPipeline``, called only when a job is left to do.
        jobs: all the benchmark's jobs, checked by :func:`audiox.pipeline.jobs.check_jobs`.

    Returns:
        ``(done before, generated now)``.
    """
    prepare_outputs(jobs)  # finish or remove what a killed run left
    todo = [j for j in jobs if not is_done(j)]
    done = len(jobs) - len(todo)
    if done:
        log.info("%d of %d outputs already done; skipped", done, len(jobs))
    if not todo:
        return done, 0
    pipe = pipe_factory()
    for _ in run_jobs(pipe, todo):
        pass
    return done, len(todo)
