#!/usr/bin/env bash
# Score a built-in model candidate on SynthBench's held-out entries the way docs/builtin.md reports it.
#
#   scripts/eval_builtin.sh MODEL_DIR OUT_DIR [full|ablation]
#
# full (default): the text case in held-out wording (seeds 0, 1, 2), in corpus wording and with shuffled held-out
# prompts (seed 0), the video and image cases (seeds 0, 1, 2), every case with every input incl. inpainting and
# continuation (seed 0), guidance 3 and 5 against the default (held-out text, seed 0), and the 20 hand-written
# prompts (scripts/own_words.py, seeds 0-2).
# ablation: the video and image cases (seeds 0, 1, 2) and the held-out text case (seed 0) only.
# Environment: CORPUS (runs/corpus16k), N (60 entries), EVAL_STEPS (30), PYTHON (.venv/bin/python). Two lanes of
# one thread each run side by side.
set -euo pipefail
MODEL=$1 OUT=$2 MODE=${3:-full}
CORPUS=${CORPUS:-runs/corpus16k} N=${N:-60} EVAL_STEPS=${EVAL_STEPS:-30} PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
ev() {  # NAME MODEL_DIR [evaluate synth flags...]
    local name=$1 model=$2
    shift 2
    [ -f "$OUT/$name/report.json" ] && return 0
    $PYTHON -m audiox evaluate synth --model "$model" --data "$CORPUS" --out "$OUT/$name" --n "$N" \
        --steps "$EVAL_STEPS" --no-fd --no-pitch --spectrograms 2 --threads 1 "$@" > "$OUT/$name.log" 2>&1
}
cfg_copy() {  # a folder whose generation.json has another guidance scale (weights linked, not copied)
    local dir=$OUT/model_cfg$1
    mkdir -p "$dir"
    ln -sf "$(realpath "$MODEL")"/config.json "$(realpath "$MODEL")"/model.safetensors "$dir/"
    $PYTHON -c "import json,sys; g=json.load(open(sys.argv[1])); g['cfg_scale']=float(sys.argv[2]); \
json.dump(g, open(sys.argv[3], 'w'))" "$MODEL/generation.json" "$1" "$dir/generation.json"
    echo "$dir"
}
lane_a() {
    for s in 0 1 2; do ev "heldout_s$s" "$MODEL" --cases text --wording heldout --seed "$s"; done
    [ "$MODE" = full ] || return 0
    ev corpus_s0 "$MODEL" --cases text --wording corpus --seed 0
    ev shuffled_s0 "$MODEL" --cases text --wording heldout --shuffle-text --seed 0
    for c in 3 5; do ev "heldout_cfg${c}_s0" "$(cfg_copy $c)" --cases text --wording heldout --seed 0; done
}
lane_b() {
    for s in 0 1 2; do ev "media_s$s" "$MODEL" --cases video image --seed "$s"; done
    [ "$MODE" = full ] || return 0
    ev all_s0 "$MODEL" --cases all --seed 0
    [ -f "$OUT/own_words.json" ] || $PYTHON scripts/own_words.py --model "$MODEL" --seeds 0 1 2 \
        --out "$OUT/own_words.json" > "$OUT/own_words.log" 2>&1
}
if [ "$MODE" = ablation ]; then
    lane_a_one() { ev heldout_s0 "$MODEL" --cases text --wording heldout --seed 0; }
    lane_a_one & lane_b & wait
else
    lane_a & lane_b & wait
fi
$PYTHON - "$OUT" <<'EOF'
import json, math, sys
from pathlib import Path
out = Path(sys.argv[1])
def get(name, case, key):
    p = out / name / "report.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())["summary"].get(case, {}).get("overall", {}).get(key)
def ms(names, case, key):
    v = [x for x in (get(n, case, key) for n in names) if x is not None]
    if not v:
        return "-"
    m = sum(v) / len(v)
    se = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v)) if len(v) > 1 else float("nan")
    return f"{m:.3f} ± {se:.3f} (n={len(v)})"
H = [f"heldout_s{s}" for s in range(3)]
M = [f"media_s{s}" for s in range(3)]
rows = [("held-out wording: SFX / music", ms(H, "text", "sfx_accuracy") + " / " + ms(H, "text", "music_accuracy")),
        ("held-out wording: SFX / instruments predicted", ms(H, "text", "sfx_distinct") + " / " + ms(H, "text", "music_distinct")),
        ("held-out wording: near-silent", ms(H, "text", "near_silent")),
        ("corpus wording (seed 0): SFX / music", f"{get('corpus_s0', 'text', 'sfx_accuracy')} / {get('corpus_s0', 'text', 'music_accuracy')}"),
        ("shuffled held-out (seed 0): SFX / music", f"{get('shuffled_s0', 'text', 'sfx_accuracy')} / {get('shuffled_s0', 'text', 'music_accuracy')}"),
        ("CFG 3 / 5 held-out (seed 0): SFX", f"{get('heldout_cfg3_s0', 'text', 'sfx_accuracy')} / {get('heldout_cfg5_s0', 'text', 'sfx_accuracy')}"),
        ("CFG 3 / 5 held-out (seed 0): music", f"{get('heldout_cfg3_s0', 'text', 'music_accuracy')} / {get('heldout_cfg5_s0', 'text', 'music_accuracy')}"),
        ("CFG 3 / 5 held-out (seed 0): near-silent", f"{get('heldout_cfg3_s0', 'text', 'near_silent')} / {get('heldout_cfg5_s0', 'text', 'near_silent')}"),
        ("video only: SFX / music", ms(M, "video", "sfx_accuracy") + " / " + ms(M, "video", "music_accuracy")),
        ("video only: onset F1", ms(M, "video", "event_f1")),
        ("image only: SFX / music", ms(M, "image", "sfx_accuracy") + " / " + ms(M, "image", "music_accuracy")),
        ("every input (seed 0): onset F1", str(get("all_s0", "all", "event_f1"))),
        ("every input (seed 0): inpainting kept SNR (dB)", str(get("all_s0", "all", "kept_snr_db"))),
        ("every input (seed 0): continuation, new part class", str(get("all_s0", "all", "continue_new_hit"))),
        ("every input (seed 0): near-silent", str(get("all_s0", "all", "near_silent")))]
text = "\n".join(f"| {k} | {v} |" for k, v in rows)
(out / "summary.md").write_text("| score | value |\n|---|---|\n" + text + "\n")
print(text)
EOF
