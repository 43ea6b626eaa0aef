#!/usr/bin/env bash
# Issue 27's GPU measurement of fine-tuning memory, one prepared run: the full-size DiT (24 blocks, random weights,
# no extrapolation) trained as `audiox train` does, for full fine-tuning and LoRA rank 16 / 64, with and without
# activation checkpointing, batch 1 and 4, fp32 and bf16-mixed; peak CUDA memory (torch.cuda.max_memory_allocated)
# and seconds per step, one JSON line per setting. A setting that does not fit prints its out-of-memory error.
#
#   scripts/gpu_bench_finetune.sh OUT_DIR
#
# Writes OUT_DIR/finetune_gpu.jsonl. Needs python3 with torch and peft (`pip install -e .`). The frozen towers (VAE,
# CLIP, T5) are not loaded here; their parameter bytes are the first line ("towers"). Rehearse on a CPU with
# DEPTHS="1 2" DEVICE=cpu (then `bench_finetune.py --fit` extrapolates to 24 blocks).
set -euo pipefail
out=$1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
py=${PYTHON:-python3}
"$py" -c "import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
# shellcheck disable=SC2086
"$py" benchmarks/bench_finetune.py --device "${DEVICE:-cuda}" --depths ${DEPTHS:-24} --threads "${THREADS:-4}" \
    --steps 3 | tee "$out/finetune_gpu.jsonl"
