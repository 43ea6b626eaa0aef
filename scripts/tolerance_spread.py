"""Measure every numerical check of the test suite on several kernel sets, beside its derived bound.

Runs the numerics tests (official fixture, samplers, checkpoint) once per kernel set with
``AUDIOX_TOLERANCE_LOG`` set, then prints, per check, the largest error seen, its bound and their ratio. A ratio
near 1 means a bound is about to fail on some CPU; the injected-bug checks (which must fail) are left out.

Usage: .venv/bin/python scripts/tolerance_spread.py [--json out.json] [pytest paths...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KERNEL_SETS = {
    "native": {},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "avx2+onednn-avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["tests/models", "tests/sampling", "tests/checkpoint"])
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in KERNEL_SETS.items():
            log = Path(tmp) / f"{name}.jsonl"
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.paths],
                                  cwd=REPO, env={**os.environ, **env, "AUDIOX_TOLERANCE_LOG": str(log)},
                                  capture_output=True, text=True)
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "no output"
            print(f"{name}: {last}", file=sys.stderr)
            for line in log.read_text().splitlines() if log.exists() else []:
                d = json.loads(line)
                if d["test"].startswith("injected:"):
                    continue
                row = rows.setdefault(f'{d["test"]}/{d["check"]}', {"bound": d["bound"], "err": {}})
                row["err"][name] = max(d["err"], row["err"].get(name, 0.0))
                row["bound"] = min(row["bound"], d["bound"])
    print(f'{"check":55s} {"max err":>9s} {"bound":>9s} {"ratio":>7s}  worst kernel set')
    for key, row in sorted(rows.items()):
        worst = max(row["err"], key=row["err"].get)
        err = row["err"][worst]
        print(f'{key:55s} {err:9.2e} {row["bound"]:9.2e} {err / row["bound"]:7.3f}  {worst}')
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
