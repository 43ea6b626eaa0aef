"""``audiox evaluate folder`` and the scoring step of ``evaluate benchmark``: two folders, one protocol, a report.

The report folder gets ``report.json`` (protocol, metrics, per-clip scores, embedders with weights hashes, package
versions, cache use), ``report.md`` and one PNG histogram per per-clip score (``clips_<score>.png``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audiox.evaluation.protocols import LOWER_IS_BETTER, METRIC_LABELS, Protocol, score

log = logging.getLogger(__name__)

PACKAGES = ("audiox", "torch", "numpy", "soxr", "safetensors", "aisfx", "transformers")
REAL_COLOUR, GEN_COLOUR = (66, 135, 245), (245, 120, 35)


def versions() -> dict[str, str | None]:
    """Installed versions of the packages a score depends on (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    if out["audiox"] is None:  # run from a checkout
        import audiox

        out["audiox"] = audiox.__version__
    return out


def load_embedders(proto: Protocol, weights: Path | None, clap: Path | None = None) -> dict[str, Any]:
    """The protocol's embedders, each from ``weights`` (a file's folder); CLAP from ``clap`` (or ``weights``)."""
    from audiox.evaluation.embedders import load_embedder

    return {k: load_embedder(k, clap if k == "clap" and clap is not None else weights) for k in proto.embedders}


def score_folders(proto: Protocol, real: Mapping[str, Path], generated: Mapping[str, Path],
                  embedders: Mapping[str, Any], *, captions: Mapping[str, str] | None = None,
                  cache_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Score ``generated`` against ``real`` (name -> file; pairs checked by the caller).

    Args:
        proto: the protocol.
        real: reference clips by name.
        generated: generated clips by name.
        embedders: the protocol's embedders by name (:func:`load_embedders`).
        captions: generated clip name -> caption, for protocols that need text.
        cache_dir: feature cache folder, or None for none.
        progress: a bar over the clips.

    Returns:
        The report record (see the module help).
    """
    import numpy as np
    from tqdm.auto import tqdm

    from audiox.evaluation.scoring import features

    t0 = time.perf_counter()
    if proto.signal:  # onsets and beats of the decoded audio: nothing to embed or cache
        from audiox.evaluation.sync import sync_scores

        with tqdm(total=len(generated), desc=f"pairs ({proto.name})", unit="pair", disable=not progress) as bar:
            metrics, per_clip = sync_scores(real, generated, proto.seconds, proto.metrics[0][1], progress=bar.update)
        real_how = gen_how = "not used (no embedder)"
    else:
        total = (len(real) + len(generated)) * len(proto.embedders)
        with tqdm(total=total, desc=f"embedding ({proto.name})", unit="clip", disable=not progress) as bar:
            real_fs, real_how = features(proto, embedders, real, cache_dir=cache_dir, progress=bar.update)
            gen_fs, gen_how = features(proto, embedders, generated, cache_dir=cache_dir, progress=bar.update)
        text = None
        if proto.needs_text:
            names = gen_fs.names
            emb = embedders["clap"].embed_text([captions[n] for n in names])  # type: ignore[index]
            text = {n: np.asarray(e, dtype=np.float64) for n, e in zip(names, emb.numpy(), strict=True)}
        metrics, per_clip = score(proto, real_fs, gen_fs, text=text)
    return {"protocol": proto.name, "about": proto.about, "seconds_per_clip": proto.seconds,
            "paired": proto.paired, "n_real": len(real), "n_generated": len(generated), "metrics": metrics,
            "embedders": {k: e.describe() for k, e in embedders.items()}, "versions": versions(),
            "cache": {"real": real_how, "generated": gen_how}, "seconds": round(time.perf_counter() - t0, 3),
            "per_clip": per_clip}


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def markdown(result: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The Markdown report."""
    lines = [f"# Evaluation report: protocol `{result['protocol']}`", "", result["about"], ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += [f"- clips: {result['n_real']} real, {result['n_generated']} generated "
              f"(first {result['seconds_per_clip']:g} s of each, zero-padded)",
              f"- feature cache: real {result['cache']['real']}, generated {result['cache']['generated']}",
              f"- time: {result['seconds']:.1f} s", "", "## Metrics", "", "| metric | embedder | value | better |",
              "|---|---|---|---|"]
    for key, value in result["metrics"].items():
        metric, emb = key.split(":", 1)
        label = METRIC_LABELS.get(metric, metric)
        better = "lower" if metric in LOWER_IS_BETTER else ("-" if metric == "is_std" else "higher")
        lines.append(f"| {label} | {emb} | {_fmt(value)} | {better} |")
    lines += ["", "## Embedders", "", "| embedder | rate (Hz) | window / hop (s) | dims | classes | weights sha256 |",
              "|---|---|---|---|---|---|"]
    for e in result["embedders"].values():
        win = "whole clip" if not e["window_seconds"] else f"{e['window_seconds']:.3g} / {e['hop_seconds']:.3g}"
        lines.append(f"| {e['name']} | {e['sample_rate']} | {win} | {e['dims']} | {e['classes']} | "
                     f"`{e['weights_hash']}` |")
    lines += ["", "## Packages", "", ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v), "",
              "## Per-clip score distributions", ""]
    for key, item in result["per_clip"].items():
        lines += [f"- `{key}`: {item['about']}: ![{key}]({plot_name(key)})"]
    return "\n".join(lines) + "\n"


def plot_name(key: str) -> str:
    return "clips_" + key.replace(":", "_").replace("/", "_") + ".png"


def histogram_png(path: Path, title: str, series: Mapping[str, list[float]], *, bins: int = 20) -> None:
    """Overlaid histograms (one colour per series: real blue, generated orange) as a PNG."""
    from PIL import Image, ImageDraw

    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    width, height, left, bottom, top = 560, 300, 50, 40, 30
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((left, 8), title[:80], fill=(0, 0, 0))
    counts = {k: [0] * bins for k in series}
    for k, vs in series.items():
        for v in vs:
            if math.isfinite(v):
                counts[k][min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
    peak = max([c for cs in counts.values() for c in cs] + [1])
    plot_w, plot_h = width - left - 10, height - bottom - top
    colours = {"real": REAL_COLOUR, "generated": GEN_COLOUR}
    for si, (k, cs) in enumerate(counts.items()):
        bw = plot_w / bins / max(1, len(counts))
        for b, c in enumerate(cs):
            x0 = left + b * plot_w / bins + si * bw
            draw.rectangle([x0, top + plot_h * (1 - c / peak), x0 + bw - 1, top + plot_h], fill=colours.get(k))
        draw.text((left + si * 120, height - 16), f"{k} (n={len(series[k])})", fill=colours.get(k, (0, 0, 0)))
    draw.line([(left, top + plot_h), (width - 10, top + plot_h)], fill=(0, 0, 0))
    draw.text((left, top + plot_h + 4), f"{lo:.3g}", fill=(0, 0, 0))
    draw.text((width - 60, top + plot_h + 4), f"{hi:.3g}", fill=(0, 0, 0))
    draw.text((5, top), str(peak), fill=(0, 0, 0))
    img.save(path, format="PNG")


def write_report(out_dir: Path, result: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and the histograms into ``out_dir`` (created).

    Returns:
        The written paths by name (``json``, ``md``, and each plot by its score key).
    """
    from audiox.utils.files import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, item in result["per_clip"].items():
        series = {side: list(item[side].values()) for side in ("real", "generated") if side in item}
        paths[key] = out_dir / plot_name(key)
        atomic_write(paths[key], lambda tmp, k=key, s=series: histogram_png(Path(tmp), k, s))
    payload = {"meta": dict(meta), **result}
    paths["json"] = atomic_write(out_dir / "report.json", lambda tmp: Path(tmp).write_text(
        json.dumps(_json_safe(payload), indent=1) + "\n", encoding="utf-8"))
    paths["md"] = atomic_write(out_dir / "report.md", lambda tmp: Path(tmp).write_text(
        markdown(result, meta), encoding="utf-8"))
    return paths


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
