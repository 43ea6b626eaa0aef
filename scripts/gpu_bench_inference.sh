#!/usr/bin/env bash
# Issue 17's GPU measurement, one prepared run: 10 s of audio with the full-size config (random weights, official
# format) on the GPU, every step run (no extrapolation): the official default (250 dpmpp-3m-sde steps, fp32,
# reference path), the fast path at 250 steps in bf16 and the few-step preset in bf16 and fp32; then the per-step
# table of the fast-path switches.
#
#   scripts/gpu_bench_inference.sh OUT_DIR
#
# Writes OUT_DIR/e2e.jsonl and OUT_DIR/step.jsonl (one JSON line per setting) and the model folder to
# OUT_DIR/model (about 5.3 GB; the disk needs about 6 GB). Needs python3 with torch, transformers, safetensors,
# tqdm, soundfile, av and soxr. Rehearse on a CPU with MEASURE_STEPS=2 (then the 250-step rows are extrapolated).
set -euo pipefail
out=$1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
py=${PYTHON:-python3}
"$py" -c "import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
"$py" benchmarks/bench_inference.py --e2e --workdir "$out/model" --measure-steps "${MEASURE_STEPS:-250}" \
    --settings official_default fast_bf16_250 fast_preset fast_preset_fp32 | tee "$out/e2e.jsonl"
"$py" benchmarks/bench_inference.py --preset official --repeats 5 | tee "$out/step.jsonl"
