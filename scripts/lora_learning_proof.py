"""Does fine-tuning teach? Issue 27, item 5, on a CPU with the built-in model.

1. A corpus of one sound class: the training entries of the generated corpus whose only class is ``--cls``
   (text-to-audio, at most ``--clips``).
2. The reference classifier scores generated clips before and after fine-tuning: the class's own prompts (the
   held-out entries that contain it; a hit is top-1 == the class) and the other classes' prompts (held-out SFX
   entries without it; a hit is top-1 among the entry's classes, as SynthBench counts it).
3. LoRA (``--rank``) and full fine-tuning, each for ``--minutes`` of training on this CPU.

Prints one JSON line per model and writes them to ``OUT/results.jsonl``.

    python scripts/lora_learning_proof.py --corpus runs/corpus16k --out runs/lora_proof --cls knocking \
        --minutes 8 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from audiox.data.manifest import read_manifest
from audiox.evaluation.classifier import load_classifier, true_labels
from audiox.evaluation.synthbench import text_only_prompt
from audiox.pipeline.core import AudioXPipeline, builtin_model_dir


def class_corpus(corpus: Path, out: Path, cls: str, clips: int) -> Path:
    """``out/manifest.jsonl``: the train entries whose only class is ``cls``, text-to-audio (``out/audio`` links to
    the corpus's clips)."""
    lines = []
    for line in (corpus / "manifest.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["split"] == "train" and e["kind"] == "sfx" and {c["class"] for c in e["labels"]["classes"]} == {cls}:
            e.update(task="t2a", video=None, image=None, audio_prompt=None)
            lines.append(json.dumps(e))
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "audio").exists():  # the clips stay where they are
        (out / "audio").symlink_to((corpus / "audio").resolve())
    path = out / "manifest.jsonl"
    path.write_text("\n".join(lines[:clips]) + "\n")
    return path


def score(pipe: AudioXPipeline, corpus: Path, cls: str, n_other: int, steps: int) -> dict:
    """Accuracy on the class's held-out prompts and on ``n_other`` other held-out SFX prompts."""
    clf = load_classifier()
    test = [e for e in read_manifest(corpus / "manifest.jsonl") if e.split == "test" and e.kind == "sfx"]
    own = [e for e in test if cls in true_labels(e)]
    other = [e for e in test if cls not in true_labels(e)][:n_other]
    hits: dict[str, list[float]] = {"own": [], "other": []}
    preds = []
    for group, entries in (("own", own), ("other", other)):
        for e in entries:
            out = pipe(text_only_prompt(e), seconds=e.seconds, steps=steps, seed=0)
            pred = clf.top1(clf.scores(out.audio[0], out.sample_rate), "sfx")
            hit = pred == cls if group == "own" else pred in true_labels(e)
            hits[group].append(float(hit))
            preds.append(pred)
    return {"own_accuracy": sum(hits["own"]) / len(hits["own"]), "n_own": len(hits["own"]),
            "other_accuracy": sum(hits["other"]) / len(hits["other"]), "n_other": len(hits["other"]),
            "own_predicted_as_class": sum(p == cls for p in preds[: len(own)]) / len(own),
            "other_predicted_as_class": sum(p == cls for p in preds[len(own):]) / max(1, len(other))}


def finetune(manifest: Path, out: Path, args: argparse.Namespace, lora: int) -> Path:
    from audiox.training.config import TrainConfig
    from audiox.training.run import load_model_spec, train

    cfg = TrainConfig(batch_size=args.batch, num_workers=0, max_steps=100_000, max_minutes=args.minutes,
                      lr=args.lora_lr if lora else args.full_lr, schedule="constant", checkpoint_every=100_000,
                      log_every=5, lora_rank=lora, ema_beta=0.99, seed=args.seed)
    cfg.validate()
    model = load_model_spec(str(builtin_model_dir()))
    t0 = time.time()
    summary = train(model, str(manifest), out, cfg, accelerator="cpu", devices=1, progress=False)
    summary["minutes"] = (time.time() - t0) / 60
    (out / "summary.json").write_text(json.dumps(summary))
    return out / "export" / ("lora" if lora else "native")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cls", default="knocking")
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lora-lr", type=float, default=1e-3)
    ap.add_argument("--full-lr", type=float, default=1e-4)
    ap.add_argument("--n-other", type=int, default=20)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=["base", "lora", "full"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    manifest = class_corpus(args.corpus, args.out / "corpus", args.cls, args.clips)
    n_clips = len(manifest.read_text().splitlines())
    results = args.out / "results.jsonl"
    for name in args.only:
        t0 = time.time()
        if name == "base":
            pipe = AudioXPipeline.from_pretrained(None, device="cpu")
        elif name == "lora":
            adapter = finetune(manifest, args.out / "lora", args, args.rank)
            pipe = AudioXPipeline.from_pretrained(None, device="cpu", lora=[adapter])
        else:
            pipe = AudioXPipeline.from_pretrained(finetune(manifest, args.out / "full", args, 0), device="cpu")
        row = {"model": name, "class": args.cls, "train_clips": n_clips, "minutes_budget": args.minutes,
               **score(pipe, args.corpus, args.cls, args.n_other, args.steps), "wall_minutes": (time.time() - t0) / 60}
        print(json.dumps(row), flush=True)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
