"""SynthBench reports: ``report.json``, ``report.md`` (tables) and PNGs (spectrograms, a score chart)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from audiox.evaluation.synthbench import CASES

# (key, label, format) of the rows of the Markdown tables
METRICS: tuple[tuple[str, str, str], ...] = (
    ("n", "clips", "{:.0f}"),
    ("sfx_accuracy", "SFX category accuracy", "{:.3f}"),
    ("music_accuracy", "music instrument accuracy", "{:.3f}"),
    ("sfx_distinct", "SFX classes predicted (distinct)", "{:.0f}"),
    ("music_distinct", "instruments predicted (distinct)", "{:.0f}"),
    ("pitch_cents", "pitch error, median (cents)", "{:.1f}"),
    ("pitch_within_50c", "pitch within 50 cents", "{:.3f}"),
    ("tempo_rel_error", "tempo error, median (relative)", "{:.3f}"),
    ("tempo_acc1", "tempo acc1 (4 %)", "{:.3f}"),
    ("tempo_acc2", "tempo acc2 (octaves ok)", "{:.3f}"),
    ("event_f1", "video event onset F1 (+-100 ms)", "{:.3f}"),
    ("beat_f1", "music beat F1 (+-100 ms)", "{:.3f}"),
    ("kept_snr_db", "inpainting kept-region SNR, median (dB)", "{:.1f}"),
    ("excess_jump_db", "boundary excess jump (dB)", "{:.2f}"),
    ("near_silent", "near-silent outputs (peak < -35 dBFS)", "{:.3f}"),
    ("continue_new_hit", "continuation: class of the new part", "{:.3f}"),
    ("fd", "Frechet distance (aisfx)", "{:.2f}"),
)
CHART_KEYS = ("sfx_accuracy", "music_accuracy", "pitch_within_50c", "tempo_acc2", "event_f1", "beat_f1")
CASE_COLOURS = {"all": (66, 135, 245), "text": (245, 166, 35), "video": (80, 180, 90), "image": (200, 80, 160)}


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj


def markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    """The Markdown report: settings, classifier record, one table per case grouping."""
    summary = result["summary"]
    cases = [c for c in CASES if c in summary]
    clf = result["classifier"]
    lines = ["# SynthBench report", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += [f"- reference classifier held-out accuracy (real audio): {_fmt(clf.get('heldout_accuracy'), '{:.3f}')}",
              f"- classifier accuracy on the real audio of these entries: "
              f"{_fmt(clf.get('real_accuracy_here'), '{:.3f}')}",
              f"- chance (best constant guess) here: sfx {_fmt(clf['chance_accuracy_here'].get('sfx'), '{:.3f}')}, "
              f"music {_fmt(clf['chance_accuracy_here'].get('music'), '{:.3f}')}", ""]
    lines += ["## All tasks, per input case", "", "| metric | " + " | ".join(cases) + " |",
              "|---|" + "---|" * len(cases)]
    for key, label, fmt in METRICS:
        lines.append(f"| {label} | " + " | ".join(_fmt(summary[c]["overall"].get(key), fmt) for c in cases) + " |")
    tasks = sorted({t for c in cases for t in summary[c]["tasks"]})
    lines += ["", "## Per task (rows) and input case (columns)", ""]
    for key, label, fmt in METRICS[1:]:
        cells = {(t, c): summary[c]["tasks"].get(t, {}).get(key) for t in tasks for c in cases}
        if all(v is None for v in cells.values()):
            continue
        lines += [f"### {label}", "", "| task | " + " | ".join(cases) + " |", "|---|" + "---|" * len(cases)]
        for t in tasks:
            if all(cells[(t, c)] is None for c in cases):
                continue
            lines.append(f"| {t} | " + " | ".join(_fmt(cells[(t, c)], fmt) for c in cases) + " |")
        lines.append("")
    lines += ["Spectrograms: `spectrograms/`; score chart: `scores.png`.", ""]
    return "\n".join(lines)


def score_chart(path: Path, summary: dict[str, Any]) -> None:
    """Grouped bars (one group per [0, 1] metric, one bar per case) as a PNG."""
    from PIL import Image, ImageDraw

    cases = [c for c in CASES if c in summary]
    width, height, left, bottom, top = 140 * len(CHART_KEYS) + 80, 360, 50, 60, 30
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    plot_h = height - bottom - top
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - frac)
        draw.line([(left, y), (width - 10, y)], fill=(220, 220, 220))
        draw.text((5, y - 6), f"{frac:.2f}", fill=(0, 0, 0))
    bar_w = max(6, 100 // max(1, len(cases)))
    for gi, key in enumerate(CHART_KEYS):
        x0 = left + 10 + gi * 140
        for ci, case in enumerate(cases):
            v = summary[case]["overall"].get(key)
            if v is None:
                continue
            x = x0 + ci * (bar_w + 2)
            draw.rectangle([x, top + plot_h * (1 - v), x + bar_w, top + plot_h], fill=CASE_COLOURS[case])
        draw.text((x0, height - bottom + 8), key.replace("_", " ")[:20], fill=(0, 0, 0))
    for ci, case in enumerate(cases):
        draw.rectangle([left + ci * 80, height - 22, left + ci * 80 + 12, height - 10], fill=CASE_COLOURS[case])
        draw.text((left + ci * 80 + 16, height - 23), case, fill=(0, 0, 0))
    img.save(path, format="PNG")


def write_report(out_dir: str | Path, result: dict[str, Any], meta: dict[str, Any], *,
                 real: dict[str, tuple[torch.Tensor, int]] | None = None) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``scores.png`` and ``spectrograms/<case>_<id>.png``.

    Args:
        out_dir: output folder (created).
        result: :meth:`SynthBench.run` output.
        meta: settings recorded in the report (model, data, steps, generator).
        real: optional ``{id: (real audio (C, T), rate)}`` drawn next to the generated spectrograms.

    Returns:
        The written paths by name.
    """
    from audiox.media import save_spectrogram

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "classifier": result["classifier"], "n_entries": result["n_entries"],
               "seconds": result["seconds"], "summary": result["summary"], "rows": result["rows"],
               "real_rows": result.get("real_rows", [])}
    paths = {"json": out / "report.json", "md": out / "report.md", "chart": out / "scores.png"}
    paths["json"].write_text(json.dumps(_json_safe(payload), indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(result, meta), encoding="utf-8")
    score_chart(paths["chart"], result["summary"])
    spec_dir = out / "spectrograms"
    for case, items in result.get("audio", {}).items():
        for entry_id, audio, rate in items:
            save_spectrogram(spec_dir / f"{case}_{entry_id}.png", audio, rate)
    for entry_id, (audio, rate) in (real or {}).items():
        save_spectrogram(spec_dir / f"real_{entry_id}.png", audio, rate)
    return paths
