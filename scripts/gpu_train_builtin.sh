#!/usr/bin/env bash
# Continue the built-in model on one GPU: the masked recipe and its no-masking ablation side by side, from the same
# starting weights, for the same wall-clock time, on a packed corpus (`audiox preencode --packed`).
#
#   scripts/gpu_train_builtin.sh PACKED_DIR HELD_OUT_PACKED_DIR CORPUS_DIR OUT_DIR [MINUTES] [INIT]
#
# INIT (default: the shipped model, audiox/assets/builtin) gives the starting weights (`audiox train --init`).
# Writes OUT_DIR/{masked,ablation}/ (run folders with export/native, diagnostics.png, bench.png) and
# OUT_DIR/{masked,ablation}.log. `ACCELERATOR=cpu BATCH=2 THREADS=1 PYTHON=.venv/bin/python ... 0.3` rehearses it
# on a CPU.
# Needs only python3 with torch, pytorch-lightning, transformers, safetensors and tqdm, plus PyAV.
set -euo pipefail
packed=$1 held_out=$2 corpus=$3 out=$4 minutes=${5:-4.5} init=${6:-audiox/assets/builtin}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
run() {
    "${PYTHON:-python3}" -m audiox train --config "configs/$1.json" --model builtin --init "$init" --data "$packed" \
        --held-out "$held_out" --bench-data "$corpus" --out "$out/$2" --accelerator "${ACCELERATOR:-gpu}" \
        --devices 1 --max-minutes "$minutes" ${BATCH:+--batch-size "$BATCH"} ${THREADS:+--threads "$THREADS"} \
        --no-progress >"$out/$2.log" 2>&1
}
run builtin_v2_train_gpu masked &
masked=$!
run builtin_v2_train_gpu_nomask ablation &
ablation=$!
status=0
wait $masked || status=$?
wait $ablation || status=$?
tail -n 3 "$out/masked.log" "$out/ablation.log"
exit $status
