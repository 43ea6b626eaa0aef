"""Compare VAE training runs by their held-out curves (the ``losses.jsonl`` that ``audiox train-vae`` writes).

    python scripts/vae_curves.py NAME=RUN_DIR [NAME=RUN_DIR ...] --png CURVES.png [--md TABLE.md]

One PNG with three panels against the step: the held-out multi-resolution STFT distance, the held-out log-mel L1
and the number of pure tones (220 / 440 / 880 Hz) that pass the round trip; ``--md`` writes a table of each
run's first and last measurement and its best held-out STFT distance.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from audiox.utils.plot import line_plot

PANELS = (("held-out STFT distance", "heldout_stft"), ("held-out log-mel L1", "heldout_logmel_l1"),
          ("pure tones passing (of 3)", "tones_passed"))


def read_rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "losses.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    p.add_argument("--png", type=Path, required=True)
    p.add_argument("--md", type=Path, default=None)
    a = p.parse_args()
    runs = {}
    for spec in a.runs:
        name, _, folder = spec.partition("=")
        if not folder:
            p.error(f"{spec}: expected NAME=RUN_DIR")
        runs[name] = {r["step"]: r for r in read_rows(Path(folder))}
    steps = sorted({s for rows in runs.values() for s in rows})
    panels = [(title, {name: [rows.get(s, {}).get(key, math.nan) for s in steps] for name, rows in runs.items()})
              for title, key in PANELS]
    line_plot(steps, panels, a.png, xlabel="step")
    if a.md:
        lines = ["| run | steps | held-out STFT first / last / best | log-mel L1 last | tones passing last |",
                 "|---|---|---|---|---|"]
        for name, rows in runs.items():
            first, last = rows[min(rows)], rows[max(rows)]
            best = min(r.get("heldout_stft", math.inf) for r in rows.values())
            lines.append(f"| {name} | {max(rows)} | {first.get('heldout_stft', math.nan):.3f} / "
                         f"{last.get('heldout_stft', math.nan):.3f} / {best:.3f} | "
                         f"{last.get('heldout_logmel_l1', math.nan):.3f} | {last.get('tones_passed', math.nan):.0f} |")
        a.md.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
