"""``audiox evaluate folder`` and ``audiox evaluate benchmark``: the field's metrics under a named protocol.

    audiox evaluate folder --real DIR --generated DIR [--protocol offline] [--out REPORT_DIR] [--weights DIR]
    audiox evaluate benchmark {audiocaps,vggsound,musiccaps,v2m-bench} --data DIR --out DIR [--model MODEL]
    torchrun --nproc_per_node N -m audiox evaluate benchmark ...   (each rank generates item i % N; rank 0 scores)

Protocols, embedders, weights and benchmark layouts: ``docs/evaluation.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

MAX_STEPS = 1000


def _common(p: argparse.ArgumentParser) -> None:
    from audiox.evaluation.protocols import PROTOCOLS

    p.add_argument("--protocol", default="offline", metavar="NAME",
                   help=f"metric protocol: {', '.join(PROTOCOLS)} (default offline)")
    p.add_argument("--weights", default=None,
                   help="folder holding the embedders' published weight files by their published names (or the "
                        "file itself): Cnn14_16k_mAP=0.438.pth / Cnn14_mAP=0.431.pth, vggish-10086976.pth")
    p.add_argument("--clap", default=None, help="local transformers ClapModel folder (e.g. clap-htsat-unfused)")
    p.add_argument("--cache", default=None, help="feature cache folder (default ~/.cache/audiox/eval)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_actions(sub: Any) -> None:
    """Register ``folder`` and ``benchmark`` on the ``evaluate`` sub-parsers."""
    from audiox.evaluation.benchmarks import BENCHMARKS

    f = sub.add_parser("folder", help="score a folder of generated audio against a folder of real audio",
                       description="Score --generated against --real with a named protocol; write a report.")
    f.add_argument("--real", required=True, help="folder of reference audio")
    f.add_argument("--generated", required=True, help="folder of generated audio (same file names when paired)")
    f.add_argument("--out", default=None, help="report folder (report.json, report.md, PNGs); default: print only")
    f.add_argument("--captions", default=None, help="JSON {name: caption} or CSV (name,caption) for --protocol clap")
    _common(f)
    b = sub.add_parser("benchmark", help="generate from a benchmark's prompts or videos and score the result",
                       description="Generate (resumably) from a public benchmark's prompts or videos, then score.")
    b.add_argument("benchmark", choices=BENCHMARKS, help="benchmark name")
    b.add_argument("--data", required=True, help="benchmark folder in the public release's layout")
    b.add_argument("--out", required=True, help="output folder (generated/ and the report); reruns resume")
    b.add_argument("--model", default=None, help="model folder (default: the built-in model)")
    b.add_argument("--n", type=int, default=None, help="the first N items only")
    b.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    b.add_argument("--seconds", type=float, default=None, help="output length (default: the model's window)")
    b.add_argument("--seed", type=int, default=0, help="seed of item 0; item i uses seed + i (default 0)")
    b.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available; under a launcher "
                                                   "cuda:LOCAL_RANK)")
    b.add_argument("--wait-ranks", type=float, default=3600.0, metavar="SECONDS",
                   help="under a launcher (RANK, WORLD_SIZE): after its share, rank 0 waits for the other ranks' "
                        "outputs, then scores; it gives up after SECONDS in which no rank finished an item "
                        "(default 3600)")
    _common(b)


def _check_common(args: argparse.Namespace, proto: Any, *, load: bool = True) -> dict[str, Any]:
    """Protocol, weights, cache and threads, checked; with ``load`` the embedders are loaded (one line when a file
    is missing)."""
    from audiox.errors import InputError
    from audiox.evaluation.folders import load_embedders
    from audiox.evaluation.scoring import default_cache_dir
    from audiox.utils import checks

    checks.threads(args.threads)
    if args.no_cache and args.cache is not None:
        raise InputError("--cache: not used with --no-cache")
    weights = Path(checks.path_arg("--weights", args.weights)) if args.weights is not None else None
    clap = checks.input_folder("--clap", args.clap) if args.clap is not None else None
    cache = None if args.no_cache else (checks.output_folder("--cache", args.cache) if args.cache is not None
                                        else default_cache_dir())
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    return {"cache": cache, "embedders": load_embedders(proto, weights, clap) if load else None}


def _run_folder(args: argparse.Namespace) -> int:
    from audiox.errors import InputError
    from audiox.evaluation.folders import score_folders, write_report
    from audiox.evaluation.protocols import protocol
    from audiox.evaluation.scoring import check_pairs, list_audio, read_captions
    from audiox.utils import checks

    real_dir = checks.input_folder("--real", args.real)
    gen_dir = checks.input_folder("--generated", args.generated)
    real, gen = list_audio(real_dir, "--real"), list_audio(gen_dir, "--generated")
    out = (checks.output_folder("--out", args.out, inputs={"--real": real_dir, "--generated": gen_dir})
           if args.out is not None else None)
    proto = protocol(checks.text("--protocol", args.protocol))
    check_pairs(real, gen, proto)
    captions = None
    if proto.needs_text:
        if args.captions is None:
            raise InputError(f"--protocol {proto.name}: needs --captions (a caption per generated file)")
        captions = read_captions(checks.input_file("--captions", args.captions), sorted(gen))
    c = _check_common(args, proto)
    result = score_folders(proto, real, gen, c["embedders"], captions=captions, cache_dir=c["cache"],
                           progress=not args.no_progress)
    meta = {"real": str(real_dir), "generated": str(gen_dir)}
    _print(result)
    if out is not None:
        paths = write_report(out, result, meta)
        print(f"report: {paths['md']}")
    return 0


def _print(result: dict[str, Any]) -> None:
    cells = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in result["metrics"].items())
    print(f"{result['protocol']}: {result['n_generated']} generated vs {result['n_real']} real: {cells} "
          f"(cache: real {result['cache']['real']}, generated {result['cache']['generated']})")


def _run_benchmark(args: argparse.Namespace) -> int:
    from audiox.evaluation.benchmarks import read_benchmark
    from audiox.evaluation.folders import score_folders, write_report
    from audiox.evaluation.protocols import protocol
    from audiox.pipeline.benchmark import benchmark_jobs, generate
    from audiox.pipeline.jobs import check_jobs
    from audiox.pipeline.ranks import launcher_ranks, rank_device, share_line
    from audiox.pipeline.source import inspect_model
    from audiox.utils import checks

    if args.n is not None:
        checks.integer("--n", args.n, lo=1)
    if args.steps is not None:
        checks.integer("--steps", args.steps, lo=1, hi=MAX_STEPS)
    if args.seconds is not None:
        checks.number("--seconds", args.seconds, lo=0, lo_open=True)
    checks.seed("--seed", args.seed)
    checks.number("--wait-ranks", args.wait_ranks, lo=0, lo_open=True)
    device = checks.device(args.device)
    ranks = launcher_ranks()  # RANK / WORLD_SIZE from torchrun or another launcher
    proto = protocol(checks.text("--protocol", args.protocol))
    data = checks.input_folder("--data", args.data)
    out = checks.output_folder("--out", args.out, inputs={"--data": data})
    bench = read_benchmark(args.benchmark, data, n=args.n)
    source = inspect_model(args.model)
    jobs = benchmark_jobs(bench.items, out, seconds=args.seconds, steps=args.steps, seed=args.seed,
                          progress=not args.no_progress and ranks.world == 1)
    # values, paths, media and limits, before anything is created; each rank reads its own share's media
    check_jobs(jobs, source, mine=ranks.share(jobs) if ranks.world > 1 else None)
    c = _check_common(args, proto, load=ranks.rank == 0)  # only rank 0 scores

    def pipe() -> Any:
        from audiox.pipeline import AudioXPipeline

        return AudioXPipeline.from_pretrained(source, device=rank_device(device, ranks))

    done = generate(pipe, jobs, ranks, {"model": str(source.path)}, stall=args.wait_ranks, hidden=args.no_progress)
    line = share_line(done.share, ranks)
    if ranks.world > 1:
        print(line)
    if not done.complete:  # another rank than 0: rank 0 scores
        return 0
    now = len(jobs) - done.before
    print(f"{args.benchmark}: {len(jobs)} items ({bench.missing} left out for a missing file); "
          f"{done.before} already generated, {now} generated now")
    real = {i.name: i.reference for i in bench.items}
    gen = {i.name: job.out for i, job in zip(bench.items, jobs, strict=True)}  # other files there are not scored
    captions = {i.name: i.text for i in bench.items} if proto.needs_text else None
    result = score_folders(proto, real, gen, c["embedders"], captions=captions, cache_dir=c["cache"],
                           progress=not args.no_progress)
    meta = {"benchmark": args.benchmark, "data": str(data), "model": str(source.weights.parent),
            "items": len(jobs), "left_out_missing_files": bench.missing, "steps": args.steps, "seed": args.seed,
            "generated_before": done.before, "generated_now": now, "ranks": ranks.world}
    _print(result)
    paths = write_report(out, result, meta)
    print(f"report: {paths['md']}")
    return 0


def run(args: argparse.Namespace) -> int | None:
    """Run ``folder`` or ``benchmark``; None for another action."""
    if args.evaluate_action == "folder":
        return _run_folder(args)
    if args.evaluate_action == "benchmark":
        return _run_benchmark(args)
    return None
