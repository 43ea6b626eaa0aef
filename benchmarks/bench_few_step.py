"""Few-step sampler presets, measured against 250-step references (issue 17).

Every setting of one seed starts from the same noise and, for the SDE samplers, the same Brownian tree (its range
is the sigma range, the same for every setting), so its output is comparable point by point with the references:

- ``sde``: the model's default sampler (dpmpp-3m-sde) and sigma range at ``--ref-steps`` steps;
- ``ode``: dpmpp-2m (the probability-flow ODE, which the deterministic samplers solve) at ``--ode-steps`` steps.

Candidates are sampler x denoiser-call budget (NFE; heun and dpm-2 call the denoiser twice per step, so they get
half the steps) x rho of the polyexponential schedule (1: log-linear, the official one; the pipeline exposes no
other schedule). Distances: relative L2 of the final latents ``|a - b| / |b|`` and the RMS log-mel distance in dB
of the decoded audio (:func:`audiox.evaluation.features.log_mel`, the SynthBench classifier's front end); ``own``
is the distance to the reference of the sampler's own family (SDE or ODE).

Parts (``--parts``):

- ``builtin``: the built-in model through :class:`AudioXPipeline`, batched over the text of the first held-out
  SynthBench entries (``--data``) plus the example video and image; also reference scales (the 100- and 50-step
  defaults, the two references and two seeds against each other);
- ``official``: the full-width DiT of the ``official`` preset with random weights, depth cut to ``--depth``, in
  bfloat16, on latents only (no VAE); prints the size of the network's output against the skip term;
- ``synthbench``: SynthBench (``--data``) of the ``--bench`` settings on the same held-out entries and seeds.

Writes ``OUT/<part>.jsonl`` (one JSON line per run, also printed) and ``OUT/summary_<part>.json``.

Usage: ``python benchmarks/bench_few_step.py --out runs/few --data CORPUS [--parts builtin official synthbench]``
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

SAMPLERS = ("euler", "heun", "dpm-2", "lms", "dpmpp-2m", "dpm-fast", "dpmpp-2m-sde", "dpmpp-3m-sde")
CALLS_PER_STEP = {"heun": 2, "dpm-2": 2}  # their last step (to sigma 0) is one Euler call: NFE = 2 * steps - 1
ODE_REF = "dpmpp-2m"
PARTS = ("builtin", "official", "synthbench")
DB = 10 / math.log(10)  # natural log of power -> dB


@dataclass(frozen=True)
class Setting:
    """One sampler configuration (the rest of the model's defaults is kept)."""

    sampler: str
    steps: int
    rho: float = 1.0
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.sampler}/{self.steps}/rho{self.rho:g}"

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "sampler": self.sampler, "steps": self.steps, "rho": self.rho}


def candidates(samplers: Iterable[str], budgets: Iterable[int], rhos: Iterable[float]) -> list[Setting]:
    """Every sampler x NFE budget x rho (dpm-fast builds its own schedule: rho 1 only)."""
    out = []
    for s in samplers:
        for nfe in budgets:
            steps = (nfe + 1) // 2 if s in CALLS_PER_STEP else nfe
            out += [Setting(s, steps, r) for r in rhos if s != "dpm-fast" or r == 1.0]
    return out


def reference_settings(default: Setting, ref_steps: int, ode_steps: int) -> dict[str, Setting]:
    """The two references and the scales that say what a distance means."""
    return {
        "sde": replace(default, steps=ref_steps, label=f"ref-sde: {default.sampler}/{ref_steps}"),
        "ode": Setting(ODE_REF, ode_steps, default.rho, f"ref-ode: {ODE_REF}/{ode_steps}"),
        "official": replace(default, steps=100, label=f"official default: {default.sampler}/100"),
        "default": replace(default, label=f"current default: {default.sampler}/{default.steps}"),
    }


def is_sde(sampler: str) -> bool:
    from audiox.sampling.registry import STOCHASTIC, get_sampler

    return get_sampler(sampler) in STOCHASTIC


# ------------------------------------------------------------------------------------------------ distances
def rel_l2(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Per batch row ``|a - b| / |b|`` of (B, ...) tensors."""
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).tolist()


def mel_db(audio: torch.Tensor, rate: int) -> torch.Tensor:
    """(B, C, T) audio -> (B, mels, frames) log-mel power in dB (the SynthBench classifier's front end)."""
    from audiox.evaluation.features import log_mel

    return torch.stack([log_mel(a, rate) for a in audio]) * DB


def mel_dist(a: torch.Tensor, b: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per row: RMS of the log-mel dB difference, and its mean (level bias of ``a`` against ``b``)."""
    d = a - b
    return d.square().mean((1, 2)).sqrt().tolist(), d.mean((1, 2)).tolist()


def distances(out: dict[str, torch.Tensor], refs: dict[str, dict[str, torch.Tensor]]) -> dict[str, list[float]]:
    """Latent (and, when there are mels, audio) distances of ``out`` to every reference, per batch row."""
    row: dict[str, list[float]] = {}
    for key, ref in refs.items():
        row[f"latent_{key}"] = rel_l2(out["latents"], ref["latents"])
        if "mel" in out:
            row[f"mel_db_{key}"], row[f"mel_bias_db_{key}"] = mel_dist(out["mel"], ref["mel"])
    return row


def mean_se(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    se = float(t.std() / math.sqrt(len(t))) if len(t) > 1 else float("nan")
    return float(t.mean()), se


def median(values: list[float]) -> float:
    return float(torch.tensor(values, dtype=torch.float64).median())


def rounded(x: Any, digits: int = 4) -> Any:
    if isinstance(x, float):
        return float(f"{x:.{digits}g}") if math.isfinite(x) else None
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    return x


def emit(path: Path, record: dict[str, Any]) -> None:
    line = json.dumps(rounded(record))
    print(line, flush=True)
    with path.open("a") as f:
        f.write(line + "\n")


class CallCounter:
    """Counts forward calls of a module (one per guided denoiser call)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        module.register_forward_hook(self._hook)

    def _hook(self, *_: Any) -> None:
        self.calls += 1


def run_settings(settings: list[Setting], generate: Callable[[Setting, int], dict[str, torch.Tensor]],
                 counter: CallCounter, ref_keys: dict[str, str], seeds: list[int], path: Path,
                 part: str) -> list[dict[str, Any]]:
    """Generate every setting for every seed; distances to the settings named by ``ref_keys`` (run first)."""
    records = []
    ref_out: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
    for seed in seeds:
        refs: dict[str, dict[str, torch.Tensor]] = {}
        for s in settings:
            counter.calls = 0
            t0 = time.perf_counter()
            out = generate(s, seed)
            rec = {"part": part, "seed": seed, **s.record(), "nfe": counter.calls,
                   "seconds": time.perf_counter() - t0}
            for key, name in ref_keys.items():
                if s.name == name:
                    refs[key] = out
            rec["items"] = distances(out, refs)
            emit(path, rec)
            records.append(rec)
        ref_out[seed] = refs
    for a, b in zip(seeds, seeds[1:]):  # what unrelated outputs of the same prompts look like
        rec = {"part": part, "seed": a, "name": f"scale: ref-sde seed {a} vs seed {b}", "nfe": 0}
        rec["items"] = distances(ref_out[a]["sde"], {"sde": ref_out[b]["sde"]})
        emit(path, rec)
        records.append(rec)
    return records


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard error over items x seeds of every distance, per setting; ``own`` picks the family."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_name.setdefault(r["name"], []).append(r)
    rows = []
    for recs in by_name.values():
        row = {k: recs[0][k] for k in ("part", "name", "sampler", "steps", "rho", "nfe") if k in recs[0]}
        row["seconds"] = sum(r.get("seconds", 0.0) for r in recs) / len(recs)
        keys = recs[0]["items"].keys()
        for key in keys:
            values = [v for r in recs for v in r["items"][key]]
            row[key], row[f"{key}_se"] = mean_se(values)
            row[f"{key}_median"] = median(values)
        if "sampler" in row:
            fam = "sde" if is_sde(row["sampler"]) else "ode"
            for key in [k for k in keys if k.endswith("_" + fam)]:
                own = key[: -len(fam)] + "own"
                for suffix in ("", "_se", "_median"):
                    row[own + suffix] = row[key + suffix]
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ built-in
class ConditionCache:
    """Memoises ``model.condition`` for inputs that do not change (one part's batch), keyed by the generator's state.

    Conditioning the batch (text, video, the audio prompt's VAE draw) costs more than a few-step sampler run. A hit
    returns the stored conditioning and puts the generator in the state the real call left it in, so the pipeline
    draws the same noise and Brownian-tree seed as without the cache.
    """

    def __init__(self, model: Any) -> None:
        self.inner = model.condition
        self.memo: dict[bytes, tuple[Any, torch.Tensor]] = {}
        model.condition = self

    def __call__(self, inputs: dict, *, generator: torch.Generator, **kwargs: Any) -> Any:
        key = generator.get_state().numpy().tobytes()
        if key not in self.memo:
            cond = self.inner(inputs, generator=generator, **kwargs)
            self.memo[key] = (cond, generator.get_state())
        cond, state = self.memo[key]
        generator.set_state(state)
        return cond


def variant(pipe: Any, s: Setting) -> Any:
    """The pipeline with ``s`` as its sampler defaults (the path ``--fast`` would take)."""
    from audiox.pipeline import AudioXPipeline

    defaults = replace(pipe.defaults, sampler=s.sampler, steps=s.steps, rho=s.rho)
    return AudioXPipeline(pipe.model, device=pipe.device, defaults=defaults, source=pipe.source)


def held_out(data: Path, n: int) -> list[Any]:
    from audiox.evaluation.synthbench import SynthBench

    return SynthBench(data, n=n, fd=False, pitch=False).entries


def part_builtin(args: argparse.Namespace, pipe: Any, default: Setting, settings: list[Setting]) -> list[dict]:
    from audiox.evaluation.synthbench import text_only_prompt
    from audiox.pipeline.inputs import DEFAULT_VIDEO_PROMPTS
    from audiox.pipeline.source import builtin_model_dir

    examples = builtin_model_dir() / "examples"
    texts = [text_only_prompt(e) for e in held_out(args.data, args.prompts)]
    videos: list[str | None] = [None] * len(texts) + [str(examples / "video.mp4"), None]
    images: list[str | None] = [None] * len(texts) + [None, str(examples / "image.png")]
    texts += [DEFAULT_VIDEO_PROMPTS["audio"]] * 2
    counter = CallCounter(pipe.model.dit)
    cache = ConditionCache(pipe.model)
    refs = reference_settings(default, args.ref_steps, args.ode_steps)
    kept: dict[int, torch.Tensor] = {}

    def generate(s: Setting, seed: int) -> dict[str, torch.Tensor]:
        out = variant(pipe, s)(texts, video=videos, image=images, seed=seed)
        if s == refs["default"]:
            kept[seed] = out.latents
        return {"latents": out.latents, "mel": mel_db(out.audio, out.sample_rate)}

    every = list(refs.values()) + settings
    ref_keys = {"sde": refs["sde"].name, "ode": refs["ode"].name}
    print(json.dumps({"part": "builtin", "items": len(texts), "prompts": texts, "settings": len(every)}), flush=True)
    records = run_settings(every, generate, counter, ref_keys, args.seeds, args.out / "builtin.jsonl", "builtin")
    pipe.model.condition = cache.inner  # check: the cached path gave what the pipeline gives without the cache
    seed = args.seeds[-1]
    cached = kept[seed]
    emit(args.out / "builtin.jsonl", {"part": "builtin", "check": "condition cache", "seed": seed,
                                      "max_abs_diff_latents": (generate(refs["default"], seed)["latents"] - cached)
                                      .abs().max().item()})
    return records


# ------------------------------------------------------------------------------------------------ full size
def official_dit(depth: int, weight_std: float, dtype: torch.dtype) -> tuple[Any, Any]:
    """The official DiT at width 1536 with ``depth`` blocks and N(0, weight_std^2) weights everywhere."""
    from audiox.models.dit import DiT
    from audiox.models.presets import PRESETS, parse_config

    raw = PRESETS["official"]()
    raw["model"]["diffusion"]["config"]["depth"] = depth
    cfg = parse_config(raw)
    dit = DiT(cfg.model.diffusion.config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the official init zeroes the branch outputs: random weights everywhere instead
        for p in dit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * weight_std)
    return dit.to(dtype), cfg


def part_official(args: argparse.Namespace, default: Setting, settings: list[Setting]) -> list[dict]:
    from audiox.models.diffusion import DEFAULT_CFG_SCALE, make_denoiser, sigma_to_t, v_scalings
    from audiox.pipeline.settings import SamplerSettings
    from audiox.sampling.registry import sample

    dit, cfg = official_dit(args.depth, args.weight_std, torch.bfloat16)
    p = cfg.model.diffusion.config
    official = SamplerSettings()  # the release's README: sigma 0.3 .. 500, CFG 7
    default = replace(default, steps=official.steps)
    g = torch.Generator().manual_seed(1)
    b = args.official_items
    ctx = torch.randn(b, 471, p.cond_token_dim, generator=g)  # 471 tokens: the official context length
    noise_init = torch.randn(b, p.io_channels, cfg.latent_length, generator=g)
    denoise = make_denoiser(dit, ctx, cfg_scale=DEFAULT_CFG_SCALE)
    path = args.out / "official.jsonl"
    with torch.no_grad():  # is the network's output more than the skip term? (v_scalings: x = c_skip x + c_out v)
        for sigma in (official.sigma_max, 10.0, 1.0, official.sigma_min):
            sig = torch.full((b,), sigma)
            c_skip, c_out, c_in = (s[:, None, None] for s in v_scalings(sig))
            x = noise_init * math.sqrt(sigma**2 + 1)
            v = dit((x * c_in).to(torch.bfloat16), sigma_to_t(sig), ctx.to(torch.bfloat16)).float()
            rms = {k: t.square().mean().sqrt().item() for k, t in (("v", v), ("c_out_v", c_out * v),
                                                                     ("c_skip_x", c_skip * x))}
            emit(path, {"part": "official", "check": "output size (RMS)", "sigma": sigma, **rms})
    counter = CallCounter(dit)

    def generate(s: Setting, seed: int) -> dict[str, torch.Tensor]:
        lat = sample(s.sampler, denoise, noise_init, steps=s.steps, sigma_min=official.sigma_min,
                     sigma_max=official.sigma_max, rho=s.rho, seed=seed)
        return {"latents": lat.float()}

    refs = reference_settings(default, args.ref_steps, args.ode_steps)
    every = [refs[k] for k in ("sde", "ode", "official")] + settings
    print(json.dumps({"part": "official", "depth": args.depth, "width": p.embed_dim, "items": b,
                      "latent": [p.io_channels, cfg.latent_length], "context_tokens": 471,
                      "weight_std": args.weight_std, "dtype": "bfloat16", "settings": len(every)}), flush=True)
    ref_keys = {"sde": refs["sde"].name, "ode": refs["ode"].name}
    return run_settings(every, generate, counter, ref_keys, args.official_seeds, path, "official")


# ------------------------------------------------------------------------------------------------ SynthBench
def part_synthbench(args: argparse.Namespace, pipe: Any, bench_settings: list[Setting]) -> list[dict]:
    from audiox.evaluation.generators import pipeline_generator
    from audiox.evaluation.synthbench import SynthBench

    bench = SynthBench(args.data, n=args.bench_n, fd=False, pitch=False, cases=tuple(args.bench_cases))
    path = args.out / "synthbench.jsonl"
    records = []
    for seed in args.bench_seeds:  # seed-major: a run cut short still has whole seeds
        for s in bench_settings:
            t0 = time.perf_counter()
            result = bench.run(pipeline_generator(variant(pipe, s), steps=None, seed=seed))
            rows = result["rows"]
            rec = {"part": "synthbench", "seed": seed, **s.record(), "seconds": time.perf_counter() - t0,
                   "clips": len(rows), "hits": [[r["id"], r["case"], r["hit"]] for r in rows],
                   "event_f1": [r["event_f1"] for r in rows if "event_f1" in r]}
            emit(path, rec)
            records.append(rec)
    return records


def summarise_bench(records: list[dict[str, Any]], cases: Iterable[str]) -> list[dict[str, Any]]:
    """Per setting: accuracy (per case too) and event onset F1, and their paired differences to the first setting
    (the default) on the same entries, cases and seeds; mean and standard error over clips."""
    hits: dict[str, dict[tuple, float]] = {}
    settings: dict[str, dict[str, Any]] = {}
    for r in records:
        hits.setdefault(r["name"], {}).update({(i, c, r["seed"]): h for i, c, h in r["hits"]})
        settings.setdefault(r["name"], {k: r[k] for k in ("name", "sampler", "steps", "rho")})
    base = hits[records[0]["name"]]
    base_f1 = {r["seed"]: r["event_f1"] for r in records if r["name"] == records[0]["name"]}
    summary = []
    for name, h in hits.items():
        acc = mean_se(list(h.values()))
        diff = mean_se([v - base[k] for k, v in h.items()])
        f1 = mean_se([v for r in records if r["name"] == name for v in r["event_f1"]])
        f1_diff = mean_se([v - b for r in records if r["name"] == name  # entries come in manifest order
                           for v, b in zip(r["event_f1"], base_f1[r["seed"]], strict=True)])
        row = {"part": "synthbench", **settings[name], "clips": len(h), "accuracy": acc[0], "accuracy_se": acc[1],
               "accuracy_minus_default": diff[0], "accuracy_minus_default_se": diff[1], "event_f1": f1[0],
               "event_f1_se": f1[1], "event_f1_minus_default": f1_diff[0], "event_f1_minus_default_se": f1_diff[1]}
        for case in cases:
            row[f"accuracy_{case}"], row[f"accuracy_{case}_se"] = mean_se([v for k, v in h.items() if k[1] == case])
        summary.append(row)
    return summary


def parse_setting(text: str) -> Setting:
    """``SAMPLER:STEPS[:RHO]``, e.g. ``dpmpp-3m-sde:12:2``."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected SAMPLER:STEPS[:RHO], got {text!r}")
    return Setting(parts[0], int(parts[1]), float(parts[2]) if len(parts) == 3 else 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--out", type=Path, required=True, help="results folder (JSON lines are appended)")
    ap.add_argument("--parts", nargs="+", default=["builtin", "official"], choices=PARTS)
    ap.add_argument("--data", type=Path, help="SynthBench corpus (audiox synth build): builtin and synthbench need it")
    ap.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    ap.add_argument("--nfe", nargs="+", type=int, default=[8, 12, 16], help="denoiser-call budgets")
    ap.add_argument("--rhos", nargs="+", type=float, default=[1.0, 2.0, 3.0], help="polyexponential exponents")
    ap.add_argument("--ref-steps", type=int, default=250, help="steps of the SDE reference (the default sampler)")
    ap.add_argument("--ode-steps", type=int, default=100, help="steps of the ODE reference (dpmpp-2m)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="builtin part seeds")
    ap.add_argument("--prompts", type=int, default=16, help="held-out text prompts (builtin part)")
    ap.add_argument("--depth", type=int, default=2, help="DiT depth of the full-width part (official: 24)")
    ap.add_argument("--weight-std", type=float, default=0.02, help="std of the random weights (full-width part)")
    ap.add_argument("--official-items", type=int, default=2, help="batch of random latents (full-width part)")
    ap.add_argument("--official-seeds", nargs="+", type=int, default=[0], help="Brownian-tree seeds (full width)")
    ap.add_argument("--official-samplers", nargs="+", default=None, help="default: --samplers")
    ap.add_argument("--bench", nargs="+", type=parse_setting, default=[],
                    help="SynthBench settings SAMPLER:STEPS[:RHO] (the model's default is always run first)")
    ap.add_argument("--bench-n", type=int, default=40, help="held-out entries")
    ap.add_argument("--bench-cases", nargs="+", default=["text", "video", "image"])
    ap.add_argument("--bench-seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--from-logs", action="store_true",
                    help="only summarise the JSON lines already in OUT (e.g. of a run cut short)")
    args = ap.parse_args()
    if ("builtin" in args.parts or "synthbench" in args.parts) and args.data is None and not args.from_logs:
        ap.error("--data is required by the builtin and synthbench parts")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    from audiox.pipeline import AudioXPipeline

    pipe = None if args.from_logs else AudioXPipeline.from_pretrained(device="cpu")
    d = pipe.defaults if pipe else None
    default = Setting(d.sampler, d.steps, d.rho) if d else None
    run = {"args": vars(args), "defaults": vars(d) if d else None}
    for part in args.parts:
        if args.from_logs:
            logged = [json.loads(line) for line in (args.out / f"{part}.jsonl").read_text().splitlines()]
            records = [r for r in logged if "items" in r or "hits" in r]
            rows = summarise_bench(records, args.bench_cases) if part == "synthbench" else summarise(records)
        elif part == "builtin":
            rows = summarise(part_builtin(args, pipe, default, candidates(args.samplers, args.nfe, args.rhos)))
        elif part == "official":
            settings = candidates(args.official_samplers or args.samplers, args.nfe, args.rhos)
            rows = summarise(part_official(args, default, settings))
        else:
            label = f"current default: {default.sampler}/{default.steps}"
            rows = summarise_bench(part_synthbench(args, pipe, [replace(default, label=label)] + args.bench),
                                   args.bench_cases)
        summary = {**run, "rows": rows}
        text = json.dumps(rounded(summary), indent=1, default=lambda o: getattr(o, "name", str(o)))
        (args.out / f"summary_{part}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
