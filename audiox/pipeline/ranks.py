"""Batch generation across ranks: each rank's share of the jobs, what is already done, overall completion.

A launcher (``torchrun``, ``srun`` with the variables mapped, or a shell loop) starts one ``audiox generate
--batch`` per rank with ``RANK`` and ``WORLD_SIZE`` (and ``LOCAL_RANK``, the GPU on its machine) set. No
collective communication is needed: job ``i`` (0-based line order) belongs to rank ``i % WORLD_SIZE``, each rank
writes only its own jobs' outputs (each set atomically, :func:`audiox.utils.files.write_together`) and
clears only the leftovers of its own jobs, so ranks never touch each other's files.

A job is done when its audio, its sidecar and its ``mux`` video all exist and the sidecar's ``job`` stamp
(:func:`job_stamp`: the job's request, its outputs and the run's model options) equals the job's: a finished
output of other settings is generated again. Since a set is written as one unit, a killed run leaves each job
either done or not started, and a rerun with ``--skip-done`` (the same command) finishes the rest. Each job
draws its noise from its own seed, so the files do not depend on the number of ranks or on which rank made
them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from audiox.errors import InputError
from audiox.pipeline.jobs import Job

STAMP_KEY = "job"  # the sidecar key holding the job's stamp
_UNSTAMPED = ("limits", "progress")  # request fields that never change an output


@dataclass(frozen=True)
class Ranks:
    """This process's place among the launched ones.

    Attributes:
        rank: 0 .. world - 1 (``RANK``).
        world: how many processes share the jobs (``WORLD_SIZE``).
        local: the rank on this machine (``LOCAL_RANK``; default ``rank``): the CUDA device index.
    """

    rank: int = 0
    world: int = 1
    local: int = 0

    def share(self, jobs: Sequence[Job]) -> list[Job]:
        """This rank's jobs: every ``world``-th one from index ``rank`` (disjoint, the same on every rank)."""
        return list(jobs[self.rank::self.world])


def launcher_ranks(env: Mapping[str, str] | None = None) -> Ranks:
    """The ranks a launcher set in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); neither: one rank.

    Raises:
        InputError: one of ``RANK`` / ``WORLD_SIZE`` without the other, not a whole number, or out of range.
    """
    env = os.environ if env is None else env
    raw = {k: env.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    if raw["RANK"] is None and raw["WORLD_SIZE"] is None:
        return Ranks()
    if raw["RANK"] is None or raw["WORLD_SIZE"] is None:
        raise InputError("environment: RANK and WORLD_SIZE go together (a launcher such as torchrun sets both)")
    values = {}
    for key, text in raw.items():
        if text is None:
            continue
        if not text.strip().isdigit():
            raise InputError(f"environment: {key}={text!r} is not a whole number")
        values[key] = int(text)
    rank, world = values["RANK"], values["WORLD_SIZE"]
    if world < 1 or rank >= world:
        raise InputError(f"environment: RANK={rank} with WORLD_SIZE={world}; expected 0 <= RANK < WORLD_SIZE")
    return Ranks(rank, world, values.get("LOCAL_RANK", rank))


def rank_device(device: str | None, ranks: Ranks) -> str | None:
    """``device`` for this rank: a bare ``cuda`` (or the default where CUDA exists) becomes ``cuda:LOCAL_RANK`` when
    several ranks run; anything else as given."""
    if ranks.world == 1:
        return device
    if device == "cuda" or device is None:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{ranks.local % torch.cuda.device_count()}"
    return device


def job_stamp(job: Job, run: Mapping[str, Any]) -> str:
    """A digest of everything that decides a job's outputs: its request (media by path), its output names and
    ``run`` (the model and the options it loads with, e.g. ``{"model": ..., "dtype": ...}``).

    Args:
        job: the checked job.
        run: JSON-able values of the run that change outputs.
    """
    req = {f.name: getattr(job.request, f.name) for f in fields(job.request) if f.name not in _UNSTAMPED}
    what = {"request": req, "out": job.out.name, "mux": job.mux.name if job.mux else None, "run": dict(run)}
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_done(job: Job, stamp: str) -> bool:
    """Every output of ``job`` exists and its sidecar carries ``stamp`` (see the module doc)."""
    if not all(p.is_file() for p in job.outputs()):
        return False
    try:
        meta = json.loads(job.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get(STAMP_KEY) == stamp


class Completion:
    """Overall completion of a batch as seen in its output folder (every rank's finished sets).

    Each job is checked until it is found done, then never again: following a whole batch costs one look per
    job that finishes.

    Args:
        jobs: every job of the batch (all ranks').
        stamps: each job's :func:`job_stamp`, in the same order.
    """

    def __init__(self, jobs: Sequence[Job], stamps: Sequence[str]) -> None:
        self.total = len(jobs)
        self._pending = list(zip(jobs, stamps))
        self.refresh()

    @property
    def done(self) -> int:
        return self.total - len(self._pending)

    def refresh(self) -> int:
        """Look again at the jobs not yet done; returns how many are done now."""
        self._pending = [(j, s) for j, s in self._pending if not is_done(j, s)]
        return self.done

    def wait(self, stall: float, *, poll: float = 1.0, bar: Any = None,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Wait until every job is done (the other ranks' included); give up after ``stall`` seconds in which no
        job finished (a rank that stopped never finishes its share; one that works finishes a job now and then).

        Args:
            stall: seconds without a newly finished job before giving up (> 0).
            poll: seconds between looks.
            bar: a tqdm bar kept at :attr:`done`, or None.

        Returns:
            True when every job is done, False when it gave up.
        """
        last, since = self.refresh(), clock()
        while last < self.total:
            if clock() - since >= stall:
                return False
            sleep(min(poll, max(stall - (clock() - since), 0.0)))
            now = self.refresh()
            if now != last:
                last, since = now, clock()
                if bar is not None:
                    bar.n = now
                    bar.refresh()
        return True


@dataclass
class RankPlan:
    """What this rank does with a batch (see :func:`plan`).

    Attributes:
        mine: this rank's share of the jobs.
        todo: the jobs of ``mine`` still to generate.
        stamps: ``{job.out: stamp}`` of every job of the batch.
        completion: the whole batch's completion, followed by rank 0 of several; else None.
    """

    mine: list[Job]
    todo: list[Job]
    stamps: dict[Any, str]
    completion: Completion | None


def plan(jobs: Sequence[Job], ranks: Ranks, run: Mapping[str, Any], *, skip_done: bool) -> RankPlan:
    """Take this rank's share of the checked ``jobs``, prepare its output folders (finishing or removing what a
    killed run left of its own jobs only, when several ranks run) and, with ``skip_done``, leave out the jobs that
    are done.

    Args:
        jobs: every job of the batch, checked (:func:`audiox.pipeline.jobs.check_jobs`), in line order.
        ranks: this process's place (:func:`launcher_ranks`).
        run: the run's values that change outputs (see :func:`job_stamp`).
        skip_done: leave out the jobs that are done (:func:`is_done`).
    """
    from audiox.pipeline.jobs import prepare_outputs

    stamps = {job.out: job_stamp(job, run) for job in jobs}
    mine = ranks.share(jobs)
    prepare_outputs(mine, own_only=ranks.world > 1)
    todo = [j for j in mine if not (skip_done and is_done(j, stamps[j.out]))]
    completion = None
    if ranks.world > 1 and ranks.rank == 0:
        completion = Completion(jobs, [stamps[j.out] for j in jobs])
    return RankPlan(mine, todo, stamps, completion)


def overall_bar(share: RankPlan, ranks: Ranks, hidden: bool) -> Any:
    """Rank 0's one bar over the whole batch (every rank's finished jobs) when several ranks run; None elsewhere."""
    if share.completion is None:
        return None
    from tqdm.auto import tqdm

    c = share.completion
    return tqdm(total=c.total, initial=c.done, desc=f"jobs, {ranks.world} ranks", disable=hidden)


def share_line(share: RankPlan, ranks: Ranks) -> str | None:
    """What this rank did, for one rank of several or a run that skipped jobs (None otherwise): ``rank R/W: N
    generated, M already done``; rank 0 of several adds the whole batch's completion."""
    skipped = len(share.mine) - len(share.todo)
    if ranks.world == 1 and not skipped:
        return None
    line = f"rank {ranks.rank}/{ranks.world}: {len(share.todo)} generated, {skipped} already done"
    if share.completion is not None:
        line += f"; {share.completion.refresh()} of {share.completion.total} jobs of the batch done so far"
    return line
