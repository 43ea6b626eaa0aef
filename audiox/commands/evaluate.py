"""``audiox evaluate``: SynthBench (``synth``), the training of its reference classifier (``classifier``), and the
field's metrics on folders and public benchmarks (``folder``, ``benchmark``: :mod:`audiox.commands.evaluate_data`).

    audiox evaluate synth --model MODEL_DIR --data CORPUS --out report/ [--n N] [--steps S] [--oracle | --noise]
    audiox evaluate classifier --data CORPUS --out audiox/assets/synthbench [--epochs E] [--seed S]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``synth``, ``classifier``, ``folder`` and ``benchmark`` actions."""
    from audiox.commands import evaluate_data

    sub = parser.add_subparsers(dest="evaluate_action", metavar="ACTION")
    s = sub.add_parser("synth", help="score a model on the held-out part of a synthetic corpus (SynthBench)",
                       description="Generate from held-out prompts of the corpus and score the audio.")
    s.add_argument("--model", default=None, help="model folder (default: the built-in model)")
    s.add_argument("--data", required=True, help="corpus folder (audiox synth build --out ...)")
    s.add_argument("--out", required=True, help="report folder")
    s.add_argument("--n", type=int, default=None, help="score the first N held-out entries (default: all)")
    s.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    s.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    s.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    s.add_argument("--split", default="test", choices=("test", "train"), help="entries to score (default test)")
    s.add_argument("--cases", nargs="+", default=None, help="input cases (default: all text video image)")
    s.add_argument("--wording", default="corpus", choices=("corpus", "heldout"),
                   help="words of the text case: the entries' own descriptions (corpus, default) or the held-out "
                        "wording that training captions never use (heldout)")
    s.add_argument("--shuffle-text", action="store_true",
                   help="control: give each entry's text case another entry's prompt of the same kind (chance)")
    s.add_argument("--classifier", default=None, help="classifier folder (default: the committed one)")
    s.add_argument("--no-fd", action="store_true", help="skip the Frechet distance (aisfx)")
    s.add_argument("--no-pitch", action="store_true", help="skip the CREPE pitch error (torchcrepe)")
    s.add_argument("--spectrograms", type=int, default=4, help="spectrogram PNGs per case (default 4)")
    s.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 is fastest when other processes share the cores)")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--oracle", action="store_true", help="score the real held-out audio instead of a model")
    which.add_argument("--noise", action="store_true", help="score white noise instead of a model")
    which.add_argument("--vae-oracle", action="store_true",
                       help="score the real held-out audio passed through the model's VAE (the ceiling of its DiT)")
    c = sub.add_parser("classifier", help="train the reference classifier on a corpus's train split",
                       description="Train the SynthBench reference classifier on real corpus audio and report its "
                                   "held-out accuracy.")
    c.add_argument("--data", required=True, help="corpus folder")
    c.add_argument("--out", required=True, help="output folder (classifier.safetensors + .json)")
    c.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    c.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    c.add_argument("--min-accuracy", type=float, default=0.9,
                   help="fail, writing nothing, below this held-out accuracy (default 0.9)")
    evaluate_data.add_actions(sub)


MAX_STEPS = 1000  # sampler steps
MAX_SPECTROGRAMS = 64  # per case
MAX_EPOCHS = 10_000


def _load_classifier(value: str | None) -> Any:
    """The reference classifier of ``--classifier`` (default: the committed one); one line when it is broken."""
    from audiox.errors import AudioXError, MediaError
    from audiox.evaluation.classifier import load_classifier
    from audiox.utils import checks

    folder = checks.input_folder("--classifier", value) if value is not None else None
    try:
        return load_classifier(folder)
    except AudioXError:
        raise
    except Exception as e:  # corrupt weights or record: one line naming the folder
        raise MediaError(f"{folder}: --classifier is not a valid classifier ({type(e).__name__}: {e})") from None


def _check_synth(args: argparse.Namespace) -> tuple[Any, Path, tuple[str, ...]]:
    """Validate every ``evaluate synth`` argument before a model loads or anything is written.

    Returns:
        The SynthBench (manifest read, classifier loaded), the report folder and the cases.
    """
    from audiox.checkpoint.locate import locate_model
    from audiox.errors import InputError
    from audiox.evaluation.synthbench import CASES, SynthBench
    from audiox.utils import checks

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    checks.threads(args.threads)
    if args.n is not None:
        checks.integer("--n", args.n, lo=1)
    if args.steps is not None:
        checks.integer("--steps", args.steps, lo=1, hi=MAX_STEPS)
    checks.seed("--seed", args.seed)
    checks.integer("--spectrograms", args.spectrograms, lo=0, hi=MAX_SPECTROGRAMS)
    checks.device(args.device)
    cases = tuple(dict.fromkeys(checks.text("--cases", c) for c in args.cases)) if args.cases else CASES
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise InputError(f"--cases: unknown {unknown[0]!r}; expected some of {', '.join(CASES)}")
    uses_model = not (args.oracle or args.noise)
    model = locate_model(args.model) if args.model is not None else None
    if uses_model and model is None:
        from audiox.pipeline.core import builtin_model_dir

        if builtin_model_dir() is None:
            raise InputError("--model: required (no built-in model is shipped yet), or pass --oracle / --noise")
    data = checks.input_folder("--data", args.data)
    classifier = _load_classifier(args.classifier)
    bench = SynthBench(data, classifier=classifier, split=args.split, n=args.n, fd=not args.no_fd,
                       pitch=not args.no_pitch, cases=cases, wording=args.wording, shuffle_text=args.shuffle_text)
    inputs = {"--data": data, "--model": model.folder if model else None,
              "--classifier": Path(args.classifier) if args.classifier is not None else None}
    out = checks.output_folder("--out", args.out, inputs=inputs)
    return bench, out, cases


def _run_synth(args: argparse.Namespace) -> int:
    from audiox.evaluation.classifier import load_clip
    from audiox.evaluation.generators import (
        noise_generator,
        oracle_generator,
        pipeline_generator,
        vae_oracle_generator,
    )
    from audiox.evaluation.report import write_report

    bench, out, cases = _check_synth(args)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.oracle:
        generator, name = oracle_generator(args.data), "oracle (real held-out audio)"
    elif args.noise:
        generator, name = noise_generator(args.seed), "noise (white, 0.1 rms)"
    elif args.vae_oracle:
        from audiox.pipeline import AudioXPipeline

        pipe = AudioXPipeline.from_pretrained(args.model, device=args.device)
        generator, name = vae_oracle_generator(pipe, args.data), f"VAE oracle (real audio through {pipe.source})"
    else:
        from audiox.pipeline import AudioXPipeline

        pipe = AudioXPipeline.from_pretrained(args.model, device=args.device)
        generator, name = pipeline_generator(pipe, steps=args.steps, seed=args.seed), f"model {pipe.source}"
    result = bench.run(generator, keep_audio=args.spectrograms)
    shown = {eid for items in result["audio"].values() for eid, _, _ in items}
    real = {e.id: (load_clip(bench.root, e), e.sample_rate) for e in bench.entries if e.id in shown}
    meta = {"generator": name, "data": str(args.data), "split": args.split, "entries": len(bench.entries),
            "steps": args.steps, "seed": args.seed, "wording": args.wording, "shuffle_text": args.shuffle_text}
    paths = write_report(out, result, meta, real=real)
    overall = result["summary"].get("all", {}).get("overall", {})
    print(f"SynthBench: {len(bench.entries)} entries in {result['seconds']:.0f} s; all-inputs sfx accuracy "
          f"{overall.get('sfx_accuracy')}, music accuracy {overall.get('music_accuracy')} -> {paths['md']}")
    return 0


def _check_classifier(args: argparse.Namespace) -> None:
    """Validate every ``evaluate classifier`` argument before the corpus is read or anything is written."""
    from audiox.training.checks import manifest_entries
    from audiox.utils import checks

    checks.integer("--epochs", args.epochs, lo=1, hi=MAX_EPOCHS)
    checks.seed("--seed", args.seed)
    checks.number("--min-accuracy", args.min_accuracy, lo=0, hi=1)
    data = checks.input_folder("--data", args.data)
    manifest_entries("--data", data / "manifest.jsonl")
    checks.output_folder("--out", args.out, inputs={"--data": data})


def _run_classifier(args: argparse.Namespace) -> int:
    from audiox.errors import InputError
    from audiox.evaluation.classifier import (
        evaluate_classifier,
        save_classifier,
        train_classifier,
        training_record,
    )

    _check_classifier(args)
    clf = train_classifier(args.data, epochs=args.epochs, seed=args.seed, progress=True)
    heldout = evaluate_classifier(clf, args.data, split="test")
    if heldout["accuracy"] is None or heldout["accuracy"] < args.min_accuracy:  # refused: nothing is written
        raise InputError(f"held-out accuracy {heldout['accuracy']} (n={heldout['n']}) is below --min-accuracy "
                         f"{args.min_accuracy}; the classifier was not saved")
    clf.meta.update(heldout=heldout, **training_record(args.data, args.out, epochs=args.epochs, seed=args.seed))
    path = save_classifier(clf, args.out)
    print(f"held-out accuracy {heldout['accuracy']} (sfx {heldout['sfx_accuracy']}, music "
          f"{heldout['music_accuracy']}, n={heldout['n']}) -> {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; returns the exit status."""
    from audiox.errors import InputError

    action = getattr(args, "evaluate_action", None)
    if action == "synth":
        return _run_synth(args)
    if action == "classifier":
        return _run_classifier(args)
    if action in ("folder", "benchmark"):
        from audiox.commands import evaluate_data

        return int(evaluate_data.run(args) or 0)
    raise InputError("evaluate: missing action; use 'audiox evaluate synth|classifier|folder|benchmark ...'")
