"""Time SynthBench scoring (oracle and noise) on a corpus; prints one JSON line.

    python benchmarks/bench_synthbench.py --data /tmp/corpus --n 10 [--no-fd] [--no-pitch]

Reports the wall and CPU seconds per scored entry (every applicable input case, with the analyses memoised by
audio content, as in a real run) and the headline scores of both generators.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from audiox.evaluation.generators import noise_generator, oracle_generator
from audiox.evaluation.synthbench import SynthBench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="corpus folder with a test split")
    parser.add_argument("--n", type=int, default=10, help="entries to score")
    parser.add_argument("--no-fd", action="store_true")
    parser.add_argument("--no-pitch", action="store_true")
    args = parser.parse_args()
    out: dict = {"bench": "synthbench", "machine": platform.machine(), "n": args.n}
    for name, gen in (("oracle", oracle_generator(args.data)), ("noise", noise_generator(0))):
        bench = SynthBench(args.data, n=args.n, fd=not args.no_fd, pitch=not args.no_pitch)
        wall, cpu = time.perf_counter(), time.process_time()
        result = bench.run(gen)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        overall = result["summary"]["all"]["overall"]
        out[name] = {"wall_s_per_entry": round(wall / len(bench.entries), 3),
                     "cpu_s_per_entry": round(cpu / len(bench.entries), 3),
                     "accuracy": overall["accuracy"], "event_f1": overall["event_f1"], "beat_f1": overall["beat_f1"],
                     "fd": overall.get("fd")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
