"""The ladder's table: one row per rung folder (``runs/ladder/NAME``) from its SynthBench reports and diagnostics.

    python scripts/ladder_table.py runs/ladder [--md OUT.md] [--png CURVES.png]

Columns: text-case accuracy (SFX / music) in corpus wording, held-out wording and the shuffled control; the
distinct SFX classes predicted in held-out wording; the last diagnostics' condition gaps (null and shuffled) at
t = 0.5 / 0.9 / 0.97 where the run logged them. ``--png`` draws every rung's null and shuffled gaps at t = 0.9
against the training step (the curves the ladder is read from).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _acc(folder: Path, wording: str) -> dict:
    p = folder / f"eval_{wording}" / "report.json"
    if not p.is_file():
        return {}
    return json.loads(p.read_text())["summary"].get("text", {}).get("overall", {})


def _fmt(x: object, spec: str = "{:.2f}") -> str:
    return "-" if x is None else spec.format(x)


def _gaps(folder: Path) -> str:
    p = folder / "train" / "diagnostics.jsonl"
    if not p.is_file():
        return "-"
    last = json.loads(p.read_text().splitlines()[-1])
    times = ("0.5", "0.9", "0.97")
    null = "/".join(_fmt(last.get(f"gap_t{t}"), "{:.3f}") for t in times)
    shuffled = "/".join(_fmt(last.get(f"gap_shuffled_t{t}"), "{:.3f}") for t in times)
    return f"step {last.get('step')}: {null} \\| {shuffled}"


def _curves(root: Path, png: Path) -> None:
    from audiox.utils.plot import line_plot

    runs = {}
    for folder in sorted(d for d in root.iterdir() if (d / "train" / "diagnostics.jsonl").is_file()):
        rows = [json.loads(x) for x in (folder / "train" / "diagnostics.jsonl").read_text().splitlines() if x]
        runs[folder.name] = {r["step"]: r for r in rows}
    steps = sorted({s for rows in runs.values() for s in rows})
    panels = [(f"{title} gap at t = 0.9 (relative v-loss)",
               {name: [rows.get(s, {}).get(key, float("nan")) for s in steps] for name, rows in runs.items()})
              for title, key in (("shuffled-condition", "gap_shuffled_t0.9"), ("null-condition", "gap_t0.9"))]
    line_plot(steps, panels, png, xlabel="step")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path)
    p.add_argument("--md", type=Path, default=None)
    p.add_argument("--png", type=Path, default=None)
    a = p.parse_args()
    lines = ["| rung | corpus SFX / music | held-out SFX / music | shuffled SFX / music | SFX classes predicted "
             "(held-out) | condition gaps null / shuffled (t) |", "|---|---|---|---|---|---|"]
    for folder in sorted(d for d in a.root.iterdir() if d.is_dir()):
        c, h, s = (_acc(folder, w) for w in ("corpus", "heldout", "shuffled"))
        row = [folder.name] + [f"{_fmt(x.get('sfx_accuracy'))} / {_fmt(x.get('music_accuracy'))}" for x in (c, h, s)]
        row += [_fmt(h.get("sfx_distinct"), "{:.0f}"), _gaps(folder)]
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines)
    print(text)
    if a.md:
        a.md.write_text(text + "\n")
    if a.png:
        _curves(a.root, a.png)


if __name__ == "__main__":
    main()
