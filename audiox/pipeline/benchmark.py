"""``audiox evaluate benchmark``: generate from a benchmark's prompts or videos, resumably and across ranks, then
score.

Generation is ``generate --batch --skip-done``'s (:mod:`audiox.pipeline.jobs`, :mod:`audiox.pipeline.ranks`): one
job per item, written to ``OUT/generated/<name>.wav`` with its ``.json`` sidecar as one unit, so a killed run
leaves each job done or not started; a job is done when both files exist and the sidecar carries the job's stamp
(its request and the model), and done jobs are kept and skipped. Under a launcher (``RANK``, ``WORLD_SIZE``) item
``i`` is made by rank ``i % WORLD_SIZE``. Item ``i`` uses seed ``seed + i``, so an output depends neither on which
items were already done nor on the number of ranks.

Scoring happens once, on rank 0: after its own share it waits for the other ranks' outputs
(:meth:`audiox.pipeline.ranks.Completion.wait`) and gives up, with one error line and no report, when none
finishes for ``stall`` seconds; rerunning the same command (on any number of ranks) then makes what is missing and
scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import AudioXError
from audiox.evaluation.benchmarks import BenchItem
from audiox.pipeline.jobs import Job, parse_job, run_jobs
from audiox.pipeline.ranks import RankPlan, Ranks, overall_bar, plan

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


class RanksStalled(AudioXError):
    """Rank 0 waited for the other ranks' outputs and none came (see the module doc)."""


@dataclass
class Generated:
    """What a rank's generation found and did.

    Attributes:
        share: this rank's plan (its jobs, those it made, the batch's completion on rank 0 of several).
        before: jobs of the whole batch done when this rank planned (one rank: its share; rank 0 of several: every
            rank's, as found then; other ranks: their own share's).
        complete: every job of the batch is done (one rank, or rank 0 after waiting); False on the other ranks.
    """

    share: RankPlan
    before: int
    complete: bool


def generate(pipe_factory: Callable[[], Any], jobs: list[Job], ranks: Ranks, run: Mapping[str, Any], *,
             stall: float, hidden: bool = False) -> Generated:
    """Generate this rank's jobs that are not done; rank 0 of several then waits for the other ranks' jobs.

    Args:
        pipe_factory: ``() -> AudioXPipeline``, called only when a job is left to do on this rank.
        jobs: all the benchmark's jobs (every rank's), checked by :func:`audiox.pipeline.jobs.check_jobs`.
        ranks: this process's place (:func:`audiox.pipeline.ranks.launcher_ranks`).
        run: the run's values that change outputs (:func:`audiox.pipeline.ranks.job_stamp`).
        stall: seconds rank 0 waits without another rank finishing a job before it gives up.
        hidden: hide rank 0's bar over the whole batch (one rank: each job's requests decide its bars).

    Raises:
        RanksStalled: rank 0 of several gave up waiting.
    """
    share = plan(jobs, ranks, run, skip_done=True)  # finishes or removes what a killed run left of this share
    c = share.completion
    before = c.done if c is not None else len(share.mine) - len(share.todo)
    if before:
        log.info("%d of %d outputs already done; skipped", before, len(jobs) if c is not None else len(share.mine))
    bar = overall_bar(share, ranks, hidden)
    if share.todo:
        pipe = pipe_factory()
        for _ in run_jobs(pipe, share.todo, stamps=share.stamps, bar=ranks.world == 1):
            if bar is not None:
                bar.n = c.refresh()
                bar.refresh()
    complete = ranks.world == 1
    if c is not None:
        complete = c.wait(stall, bar=bar)
        if bar is not None:
            bar.close()
        if not complete:
            raise RanksStalled(
                f"rank 0/{ranks.world}: {c.total - c.done} of {c.total} items still missing after {stall:g} s in "
                "which no rank finished one (did a rank stop?); the finished ones are kept: rerun the same command "
                "(on any number of ranks) to make the rest and score")
    return Generated(share, before, complete)
