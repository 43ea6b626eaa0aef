#!/usr/bin/env bash
# Train the built-in model's DiT on one GPU: the masked recipe and its no-masking ablation side by side, for the
# same wall-clock time, from a packed corpus (`audiox preencode --packed`) and a VAE from `audiox train-vae`.
#
#   scripts/gpu_train_builtin.sh PACKED_DIR VAE.safetensors OUT_DIR [MINUTES]
#
# Writes OUT_DIR/{masked,ablation}/ (run folders with export/native) and OUT_DIR/{masked,ablation}.log.
# Needs only python3 with torch, pytorch-lightning, transformers, safetensors and tqdm, plus PyAV or OpenCV.
set -euo pipefail
packed=$1 vae=$2 out=$3 minutes=${4:-6.5}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
run() {
    python3 -m audiox train --config "configs/$1.json" --model builtin --vae "$vae" --data "$packed" \
        --out "$out/$2" --accelerator "${ACCELERATOR:-gpu}" --devices 1 --max-minutes "$minutes" --no-progress >"$out/$2.log" 2>&1
}
run builtin_train_gpu masked &
masked=$!
run builtin_train_gpu_nomask ablation &
ablation=$!
status=0
wait $masked || status=$?
wait $ablation || status=$?
tail -n 3 "$out/masked.log" "$out/ablation.log"
exit $status
