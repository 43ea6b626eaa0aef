#!/usr/bin/env bash
# Train issue 25's chosen VAE candidate on one GPU, resumably, then score it against the shipped VAE.
#
#   scripts/gpu_train_vae.sh CORPUS_DIR PACKED_DIR OUT_DIR [MINUTES] [CONFIG]
#
# CONFIG (default configs/vae_candidates/c1_h1024_integrate.json): a VAE training config.
# - A `decoder` section (c1, c2): the shipped encoder stays (so do PACKED_DIR's latents and the DiT trained on
#   them); the new decoder trains alone on PACKED_DIR's latents (`audiox train-vae --latents`), started from the
#   shipped decoder's weights where the shapes allow (scripts/vae_phase_init.py: same width, phase head zeroed).
# - An `autoencoder` section (c3, c4): a new VAE trains in full on CORPUS_DIR's audio; PACKED_DIR is unused, and
#   the corpus must then be re-packed (`audiox preencode --packed --parts audio --vae OUT_DIR/run/vae.safetensors`).
# A second call with the same OUT_DIR resumes (`--resume`). MINUTES is the run's total training time, not the
# stage's: Lightning restores its timer from the checkpoint, so pass the previous total plus the new stage.
# Writes OUT_DIR/run/ (vae.safetensors, checkpoints/, logs/version_*/metrics.csv), OUT_DIR/train.log and
# OUT_DIR/check.jsonl (scripts/vae_check.py: held-out STFT and log-mel distances, tone band share, the pure-tone
# round trip, latent statistics; the candidate, then the shipped VAE).
# `ACCELERATOR=cpu BATCH=2 CROP=8192 THREADS=1 PYTHON=.venv/bin/python ... 0.2` rehearses it on a CPU.
set -euo pipefail
corpus=$1 packed=$2 out=$3 minutes=${4:-4.5} config=${5:-configs/vae_candidates/c1_h1024_integrate.json}
shipped=${SHIPPED:-audiox/assets/builtin}
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
args=(--model "$shipped/config.json" --config "$config" --out "$out/run" --accelerator "${ACCELERATOR:-gpu}"
      --devices 1 --max-minutes "$minutes" --batch-size "${BATCH:-64}" --save-every "${SAVE_EVERY:-500}" --no-progress
      ${CROP:+--crop "$CROP"} ${THREADS:+--threads "$THREADS"} ${PRECISION:+--precision "$PRECISION"})
if [ -e "$out/run/checkpoints/last.ckpt" ]; then
    args+=(--resume)
fi
if "$py" -c "import json, sys; sys.exit('autoencoder' in json.load(open('$config')))"; then
    # a new decoder under the shipped encoder: its latents, and a warm start
    if [ ! -e "$out/init.safetensors" ]; then
        "$py" scripts/vae_phase_init.py "$shipped" "$out/init.safetensors"
    fi
    args+=(--data "$corpus" --latents "$packed" --init "$out/init.safetensors")
else
    args+=(--data "$corpus" --num-workers "${WORKERS:-4}")
fi
"$py" -m audiox train-vae "${args[@]}" >>"$out/train.log" 2>&1
tail -n 2 "$out/train.log"
"$py" scripts/vae_check.py "$corpus" "$out/run/vae.safetensors" "$shipped" --n "${CHECK_N:-24}" >"$out/check.jsonl"
cut -c1-400 "$out/check.jsonl"
