#!/usr/bin/env bash
# One rung of the built-in model's ladder (docs/builtin.md): train a model config with a training config for a
# fixed number of steps, then score its text case on held-out entries in corpus wording, in held-out wording and
# with shuffled held-out prompts (the control), all with the shipped sampler settings.
#
#   scripts/ladder_rung.sh NAME MODEL_CONFIG TRAIN_CONFIG STEPS [EXTRA TRAIN FLAGS...]
#
# Environment: PACKED (runs/packed), HELD_OUT (runs/packed_test), CORPUS (runs/corpus16k), N (60 entries),
# EVAL_STEPS (30), THREADS (2), PYTHON (.venv/bin/python), INIT (weights that start the model: the VAE that packed
# the data, e.g. a folder of the shipped config.json and its pretransform.* tensors alone; the DiT starts fresh). Writes runs/ladder/NAME/{train,eval_*}.
set -euo pipefail
NAME=$1 MODEL=$2 TRAIN=$3 STEPS=$4
shift 4
PACKED=${PACKED:-runs/packed} HELD_OUT=${HELD_OUT:-runs/packed_test} CORPUS=${CORPUS:-runs/corpus16k}
N=${N:-60} EVAL_STEPS=${EVAL_STEPS:-30} THREADS=${THREADS:-2} PYTHON=${PYTHON:-.venv/bin/python}
OUT=runs/ladder/$NAME
mkdir -p "$OUT"
if [ -f "$OUT/train/checkpoints/last.ckpt" ]; then START=(--resume ${INIT:+--init "$INIT"}); else START=(${INIT:+--init "$INIT"}); fi
$PYTHON -m audiox train --model "$MODEL" --config "$TRAIN" --data "$PACKED" --held-out "$HELD_OUT" \
    --out "$OUT/train" --max-steps "$STEPS" --threads "$THREADS" --no-progress "${START[@]}" "$@"
cp audiox/assets/builtin/generation.json "$OUT/train/export/native/"
for W in corpus heldout shuffled; do
    FLAGS=(--wording "$W")
    [ "$W" = shuffled ] && FLAGS=(--wording heldout --shuffle-text)
    $PYTHON -m audiox evaluate synth --model "$OUT/train/export/native" --data "$CORPUS" --out "$OUT/eval_$W" \
        --n "$N" --cases text --steps "$EVAL_STEPS" --no-fd --no-pitch --spectrograms 2 --threads "$THREADS" \
        "${FLAGS[@]}"
done
$PYTHON scripts/ladder_table.py runs/ladder
