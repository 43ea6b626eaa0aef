"""Twenty prompts in the words a user would type, scored by SynthBench's reference classifier.

    python scripts/own_words.py [--model DIR] [--seeds 0 1 2] [--steps S] [--out results.json]

Written by hand for the built-in model's issue (none comes from a template of the corpus or of the held-out
wording). Each prompt names one sound-effect class or one instrument; an output counts as right when the reference
classifier's top-1 label of its kind is that class or instrument. Prints one row per prompt (the label predicted
per seed) and the accuracy per kind, mean and standard error over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

PROMPTS: tuple[tuple[str, str, str], ...] = (  # (prompt, kind, label)
    ("somebody knocking at my door", "sfx", "knocking"),
    ("rain hitting the window", "sfx", "rain"),
    ("an old telephone ringing in the hallway", "sfx", "phone_ring"),
    ("big explosion in an action movie", "sfx", "explosion"),
    ("footsteps walking on a wooden floor", "sfx", "footsteps"),
    ("the wind howling during a storm", "sfx", "wind"),
    ("an ambulance with its siren on", "sfx", "siren"),
    ("my alarm clock going off in the morning", "sfx", "alarm_clock"),
    ("retro video game coin sound", "sfx", "coin"),
    ("a car engine running", "sfx", "engine"),
    ("taking a photo with an old camera", "sfx", "camera_shutter"),
    ("crunching up a piece of paper", "sfx", "paper_crumple"),
    ("pew pew laser blasters", "sfx", "laser"),
    ("a man says hello", "sfx", "speech"),
    ("soft piano music", "music", "piano"),
    ("someone playing the violin", "music", "violin"),
    ("smooth jazz saxophone", "music", "saxophone"),
    ("a flute melody", "music", "flute"),
    ("strumming an acoustic guitar", "music", "acoustic guitar"),
    ("a trumpet playing a happy tune", "music", "trumpet"),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder (default: the built-in model)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    a = p.parse_args()
    import torch

    from audiox.evaluation.classifier import load_classifier
    from audiox.pipeline import AudioXPipeline

    if a.threads:
        torch.set_num_threads(a.threads)
    pipe = AudioXPipeline.from_pretrained(a.model)
    clf = load_classifier()
    rows = []
    for text, kind, label in PROMPTS:
        preds = []
        for seed in a.seeds:
            out = pipe(text=text, seconds=10.0, seed=seed, steps=a.steps, music=kind == "music")
            audio = out.audio[0].float().cpu()
            preds.append(clf.top1(clf.scores(audio, out.sample_rate), kind))
        rows.append({"prompt": text, "kind": kind, "label": label, "pred": preds})
        print(f"{'ok ' if preds.count(label) * 2 > len(preds) else '   '}{text!r:48} -> {', '.join(preds)}")
    for kind in ("sfx", "music"):
        accs = [sum(r["pred"][k] == r["label"] for r in rows if r["kind"] == kind) /
                sum(r["kind"] == kind for r in rows) for k in range(len(a.seeds))]
        mean = sum(accs) / len(accs)
        se = math.sqrt(sum((x - mean) ** 2 for x in accs) / max(len(accs) - 1, 1) / len(accs))
        print(f"{kind}: accuracy {mean:.2f} +- {se:.2f} (seeds {a.seeds})")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
