"""Bad input to every command but ``generate``: one ``error:`` line, exit 2, no traceback, nothing changed.

Each case is an argv template: ``@name`` is replaced by a path of the small fixture built in ``tmp_path`` (a
two-clip corpus, a model folder, odd files and folders); ``BAD`` is an argument with undecodable bytes. Every case
is refused by the validation step at the start of ``run``, before a model loads or a corpus is read in bulk.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from harness import assert_refused

BAD = os.fsdecode(b"\xff\xfe")  # what a non-UTF-8 command-line argument becomes
ROOT = os.geteuid() == 0  # root writes through chmod 0o555: then /proc is the unwritable folder


def _entry(i: int, split: str) -> dict:
    return {"id": f"{i:04d}", "split": split, "kind": "sfx", "task": "t2a", "audio": f"audio/{i}.wav", "video": None,
            "image": None, "caption": f"clip {i}", "audio_prompt": None, "sample_rate": 8000, "seconds": 0.5,
            "labels": {}}


def _manifest(folder: Path, entries: list[dict], extra: str = "") -> Path:
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    for e in entries:
        sf.write(folder / e["audio"], np.zeros(4000, np.float32), 8000)
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries) + extra, encoding="utf-8")
    return path


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """The fixture files; returns ``{name: path}`` for the ``@name`` placeholders."""
    from audiox.config import config_to_json
    from audiox.models.presets import get_preset

    p = {"tmp": tmp_path}
    p["corpus"] = tmp_path / "corpus"
    _manifest(p["corpus"], [_entry(0, "train"), _entry(1, "test")])
    p["manifest"] = p["corpus"] / "manifest.jsonl"
    p["testonly"] = tmp_path / "testonly"
    _manifest(p["testonly"], [_entry(0, "test")])
    p["corrupt"] = tmp_path / "corrupt"
    _manifest(p["corrupt"], [_entry(0, "train"), _entry(1, "test")], extra='{"id": "0002", "split": \n')
    p["infinite"] = tmp_path / "infinite"
    _manifest(p["infinite"], [{**_entry(0, "train"), "seconds": 1e999}])
    text = (p["infinite"] / "manifest.jsonl").read_text()  # a JSON number too large for a float, not Infinity
    (p["infinite"] / "manifest.jsonl").write_text(text.replace("Infinity", "1e999"))
    p["model"] = tmp_path / "model"
    p["model"].mkdir()
    (p["model"] / "config.json").write_text(config_to_json(get_preset("debug")))
    (p["model"] / "model.safetensors").write_bytes(b"not read before the refusal")
    p["badmodel"] = tmp_path / "badmodel"
    p["badmodel"].mkdir()
    (p["badmodel"] / "config.json").write_text('{"model_type": "diffusion_cond", "bogus_key": 1}')
    (p["badmodel"] / "model.ckpt").write_bytes(b"x")
    p["noconfig"] = tmp_path / "noconfig"
    p["noconfig"].mkdir()
    (p["noconfig"] / "model.ckpt").write_bytes(b"x")
    p["empty"] = tmp_path / "empty"
    p["empty"].mkdir()
    p["busy"] = tmp_path / "busy"
    p["busy"].mkdir()
    (p["busy"] / "notes.txt").write_text("keep me")
    p["txt"] = tmp_path / "notes.txt"
    p["txt"].write_text("not a model, not a manifest")
    p["seg"] = tmp_path / "clips.mulaw.xz"
    p["seg"].write_bytes(b"not read before the refusal")
    p["vae"] = tmp_path / "vae.safetensors"
    p["vae"].write_bytes(b"x")
    p["runout"] = tmp_path / "run"
    (p["runout"] / "checkpoints").mkdir(parents=True)
    (p["runout"] / "checkpoints" / "last.ckpt").write_bytes(b"x")
    p["vaeout"] = tmp_path / "vaeout"
    p["vaeout"].mkdir()
    (p["vaeout"] / "vae.safetensors").write_bytes(b"x")
    p["clf"] = tmp_path / "clf"
    p["clf"].mkdir()
    (p["clf"] / "classifier.safetensors").write_bytes(b"garbage")
    (p["clf"] / "classifier.json").write_text("{not json")
    p["video"] = p["busy"] / "clip.mp4"
    p["video"].write_bytes(b"x")
    configs = {"cfg_unknown": '{"lrr": 1.0}', "cfg_type": '{"lr": "fast"}', "cfg_nan": '{"weight_decay": NaN}',
               "cfg_list": "[1, 2]", "cfg_json": '{"lr": 1e-4,', "cfg_official": '{"model_type": "diffusion_cond", '
               '"training": {"optimizer_configs": 3}}', "cfg_seed": '{"seed": -1}'}
    for name, text in configs.items():
        p[name] = tmp_path / f"{name}.json"
        p[name].write_text(text)
    p["cfg_latin1"] = tmp_path / "latin1.json"
    p["cfg_latin1"].write_bytes(b'{"precision": "\xe9"}')
    p["ro"] = Path("/proc/audiox-refusal") if ROOT else tmp_path / "ro" / "out"
    if not ROOT:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
    return p


def _argv(template: list[str], paths: dict[str, Path]) -> list[str]:
    out = []
    for item in template:
        for name in sorted(paths, key=len, reverse=True):
            item = item.replace(f"@{name}", str(paths[name]))
        out.append(item)
    return out


CONVERT = [
    ("src-missing", ["@tmp/nope", "@tmp/o"], "src not found"),
    ("src-empty", ["", "@tmp/o"], "src: empty path"),
    ("src-not-utf8", [BAD, "@tmp/o"], "UTF-8"),
    ("src-folder-without-weights", ["@empty", "@tmp/o"], "no model.safetensors or model.ckpt"),
    ("src-not-weights", ["@txt", "@tmp/o"], "src is not a model folder or a weights file"),
    ("src-file-trailing-slash", ["@model/model.safetensors/", "@tmp/o"], "trailing '/'"),
    ("src-without-config", ["@noconfig", "@tmp/o"], "no config.json beside"),
    ("config-missing", ["@model", "@tmp/o", "--config", "@tmp/none.json"], "--config file not found"),
    ("config-is-folder", ["@model", "@tmp/o", "--config", "@empty"], "is a folder, not a file"),
    ("config-not-json", ["@model", "@tmp/o", "--config", "@cfg_json"], "not valid JSON"),
    ("config-unknown-key", ["@badmodel", "@tmp/o"], "bogus_key"),
    ("dst-is-source", ["@model", "@model", "--force"], "is the source folder"),
    ("dst-is-source-slash", ["@model/model.safetensors", "@model/", "--force"], "is the source folder"),
    ("dst-is-file", ["@model", "@txt"], "is a file, not a folder"),
    ("dst-holds-a-model", ["@model", "@badmodel"], "config.json: already exists; pass --force"),
    ("dst-empty", ["@model", ""], "dst: empty path"),
    ("dst-proc", ["@model", "/proc/audiox-out"], "not writable"),
    ("dst-sys", ["@model", "/sys"], "not writable"),
    ("dst-read-only", ["@model", "@ro"], "not writable"),
    ("dst-nul", ["@model", "@tmp/a\x00b"], "NUL"),
    ("dst-not-utf8", ["@model", f"@tmp/{BAD}"], "UTF-8"),
    ("to-unknown", ["@model", "@tmp/o", "--to", "onnx"], "invalid choice"),
]

SYNTH = [
    ("n-zero", ["--n", "0"], "--n: must be >= 1"),
    ("n-negative", ["--n=-3"], "--n: must be >= 1"),
    ("n-huge", ["--n", str(10**9)], "--n: must be <= 100000"),
    ("n-huge-allowed-beyond-max", ["--n", str(10**9), "--allow-large"], "--n: must be in [1, 100000000]"),
    ("n-exceeds-disk", ["--n", str(10**8), "--allow-large"], "GB are free"),
    ("n-not-int", ["--n", "1e3"], "--n: expected an integer"),
    ("n-astronomical", ["--n", str(2**70)], "--n: must be <= 100000"),
    ("seed-negative", ["--seed", "-1"], "--seed"),
    ("seed-too-big", ["--seed", str(2**64)], "--seed"),
    ("seconds-nan", ["--seconds", "nan"], "--seconds"),
    ("seconds-inf", ["--seconds", "inf"], "--seconds"),
    ("seconds-short", ["--seconds", "0.5"], "--seconds: must be in [1, 60]"),
    ("sample-rate-zero", ["--sample-rate", "0"], "--sample-rate"),
    ("fps-zero", ["--fps", "0"], "--fps"),
    ("video-size-zero", ["--video-size", "0"], "--video-size"),
    ("video-size-odd", ["--video-size", "33"], "--video-size: must be even"),
    ("video-size-huge", ["--video-size", "100000"], "--video-size"),
    ("test-fraction-above-one", ["--test-fraction", "1.5"], "--test-fraction"),
    ("test-fraction-nan", ["--test-fraction", "nan"], "--test-fraction"),
    ("workers-zero", ["--workers", "0"], "--workers: must be >= 1"),
    ("workers-huge", ["--workers", "100000"], "--workers: must be <="),
    ("channels-three", ["--channels", "3"], "invalid choice"),
]
SYNTH_OUT = [
    ("out-empty", ["--out", "", "--n", "1"], "--out: empty path"),
    ("out-is-file", ["--out", "@txt", "--n", "1"], "is a file, not a folder"),
    ("out-proc", ["--out", "/proc/audiox-corpus", "--n", "1"], "not writable"),
    ("out-sys", ["--out", "/sys", "--n", "1"], "not writable"),
    ("out-read-only", ["--out", "@ro", "--n", "1"], "not writable"),
    ("out-not-corpus", ["--out", "@busy", "--n", "1"], "holds no corpus"),
    ("out-corpus-no-overwrite", ["--out", "@corpus", "--n", "1"], "pass --overwrite"),
    ("out-parent-missing", ["--out", "@tmp/a/b", "--n", "1"], "--out: parent folder"),
    ("out-not-utf8", ["--out", f"@tmp/{BAD}", "--n", "1"], "UTF-8"),
]

EVAL_SYNTH = [
    ("n-zero", ["--n", "0"], "--n: must be >= 1, got 0"),
    ("n-negative", ["--n=-3"], "--n: must be >= 1, got -3"),
    ("steps-zero", ["--steps", "0"], "--steps: must be >= 1"),
    ("steps-huge", ["--steps", "1000000"], "--steps: must be <= 1000"),
    ("seed-negative", ["--seed", "-1"], "--seed"),
    ("seed-too-big", ["--seed", str(2**64)], "--seed: must be <= 18446744073709551615"),
    ("threads-negative", ["--threads=-2"], "--threads must be >= 1"),
    ("threads-huge", ["--threads", "100000"], "--threads: must be <= 4096"),
    ("spectrograms-negative", ["--spectrograms", "-1"], "--spectrograms"),
    ("spectrograms-huge", ["--spectrograms", "100000"], "--spectrograms: must be <= 64"),
    ("device-bogus", ["--device", "bogus"], "--device: unknown device"),
    ("device-cuda-on-cpu", ["--device", "cuda"], "no CUDA device"),
    ("cases-unknown", ["--cases", "text", "smell"], "--cases: unknown 'smell'"),
    ("cases-not-utf8", ["--cases", BAD], "UTF-8"),
    ("split-unknown", ["--split", "dev"], "invalid choice"),
    ("oracle-and-noise", ["--noise"], "not allowed with"),
    ("model-missing", ["--model", "@tmp/nomodel"], "--model not found"),
    ("model-is-text-file", ["--model", "@txt"], "not a model folder or a weights file"),
    ("model-bad-config", ["--model", "@badmodel"], "bogus_key"),
    ("classifier-missing", ["--classifier", "@tmp/noclf"], "--classifier folder not found"),
    ("classifier-corrupt", ["--classifier", "@clf"], "not a valid classifier"),
]
EVAL_SYNTH_PATHS = [
    ("data-missing", ["--data", "@tmp/nodata", "--out", "@tmp/r"], "--data folder not found"),
    ("data-is-file", ["--data", "@manifest", "--out", "@tmp/r"], "is a file, not a folder"),
    ("data-without-manifest", ["--data", "@empty", "--out", "@tmp/r"], "manifest not found"),
    ("data-corrupt-manifest", ["--data", "@corrupt", "--out", "@tmp/r"], "manifest.jsonl:3: not valid JSON"),
    ("data-no-entries-of-split", ["--data", "@testonly", "--out", "@tmp/r", "--split", "train"],
     "no 'train' entries"),
    ("data-infinite-seconds", ["--data", "@infinite", "--out", "@tmp/r", "--split", "train"], "seconds"),
    ("out-is-data", ["--data", "@corpus", "--out", "@corpus"], "is also the --data folder"),
    ("out-is-data-slash", ["--data", "@corpus", "--out", "@corpus/"], "is also the --data folder"),
    ("out-is-file", ["--data", "@corpus", "--out", "@txt"], "is a file, not a folder"),
    ("out-proc", ["--data", "@corpus", "--out", "/proc/audiox-report"], "not writable"),
    ("out-empty", ["--data", "@corpus", "--out", ""], "--out: empty path"),
]

EVAL_CLASSIFIER = [
    ("epochs-zero", ["--epochs", "0"], "--epochs: must be >= 1"),
    ("epochs-huge", ["--epochs", str(10**7)], "--epochs: must be <= 10000"),
    ("seed-negative", ["--seed", "-1"], "--seed"),
    ("min-accuracy-two", ["--min-accuracy", "2"], "--min-accuracy: must be <= 1"),
    ("min-accuracy-nan", ["--min-accuracy", "nan"], "--min-accuracy: must be a finite number"),
    ("min-accuracy-negative", ["--min-accuracy=-0.1"], "--min-accuracy: must be >= 0"),
]
EVAL_CLASSIFIER_PATHS = [
    ("data-missing", ["--data", "@tmp/nodata", "--out", "@tmp/c"], "--data folder not found"),
    ("data-is-file", ["--data", "@txt", "--out", "@tmp/c"], "is a file, not a folder"),
    ("data-no-train-entries", ["--data", "@testonly", "--out", "@tmp/c"], "no train entries"),
    ("data-corrupt-manifest", ["--data", "@corrupt", "--out", "@tmp/c"], "not valid JSON"),
    ("out-is-data", ["--data", "@corpus", "--out", "@corpus"], "is also the --data folder"),
    ("out-proc", ["--data", "@corpus", "--out", "/proc/audiox-clf"], "not writable"),
]

TRAIN = [
    ("lr-nan", ["--lr", "nan"], "--lr: must be a finite number"),
    ("lr-inf", ["--lr", "inf"], "--lr: must be a finite number"),
    ("lr-zero", ["--lr", "0"], "--lr: must be > 0"),
    ("lr-negative", ["--lr=-1e-4"], "--lr: must be > 0"),
    ("max-steps-zero", ["--max-steps", "0"], "--max-steps: must be >= 1"),
    ("max-steps-huge", ["--max-steps", str(10**12)], "--max-steps: must be <="),
    ("batch-size-zero", ["--batch-size", "0"], "--batch-size: must be >= 1"),
    ("batch-size-huge", ["--batch-size", str(10**6)], "--batch-size: must be <= 4096"),
    ("accumulate-zero", ["--accumulate", "0"], "--accumulate: must be >= 1"),
    ("num-workers-negative", ["--num-workers=-1"], "--num-workers: must be >= 0"),
    ("checkpoint-every-zero", ["--checkpoint-every", "0"], "--checkpoint-every: must be >= 1"),
    ("demo-every-negative", ["--demo-every=-5"], "--demo-every: must be >= 0"),
    ("num-nodes-zero", ["--num-nodes", "0"], "--num-nodes: must be >= 1"),
    ("max-minutes-negative", ["--max-minutes", "-1"], "--max-minutes: must be >= 0"),
    ("max-minutes-nan", ["--max-minutes", "nan"], "--max-minutes: must be a finite number"),
    ("max-minutes-overflow", ["--max-minutes", "1e300"], "--max-minutes: must be <="),
    ("seed-negative", ["--seed", "-1"], "--seed: must be >= 0"),
    ("seed-beyond-lightning", ["--seed", str(2**32)], "--seed: must be <= 4294967295"),
    ("init-seed-too-big", ["--init-seed", str(2**64)], "--init-seed"),
    ("threads-zero", ["--threads", "0"], "--threads: must be >= 1"),
    ("precision-unknown", ["--precision", "8-bit"], "--precision: unknown '8-bit'"),
    ("accelerator-bogus", ["--accelerator", "bogus"], "--accelerator: unknown accelerator 'bogus'"),
    ("accelerator-gpu-on-cpu", ["--accelerator", "gpu"], "no CUDA device"),
    ("devices-empty", ["--devices", ""], "--devices: expected auto"),
    ("devices-zero", ["--devices", "0"], "--devices: must be >= 1"),
    ("devices-too-many", ["--devices", "100000"], "--devices: must be <="),
    ("devices-list-on-cpu", ["--devices", "0,1"], "needs CUDA devices"),
    ("devices-all-gpus-on-cpu", ["--devices=-1"], "needs a CUDA device"),
    ("devices-bogus", ["--devices", "two"], "--devices: expected auto"),
    ("strategy-unknown", ["--strategy", "magic"], "--strategy: unknown strategy 'magic'"),
    ("strategy-not-installed", ["--strategy", "deepspeed"], "needs the deepspeed package"),
    ("strategy-not-utf8", ["--strategy", BAD], "--strategy: not valid UTF-8"),
    ("config-missing", ["--config", "@tmp/none.json"], "--config file not found"),
    ("config-is-folder", ["--config", "@empty"], "--config is a folder, not a file"),
    ("config-not-json", ["--config", "@cfg_json"], "cfg_json.json: not valid JSON"),
    ("config-not-utf8", ["--config", "@cfg_latin1"], "latin1.json: training config is not UTF-8"),
    ("config-unknown-key", ["--config", "@cfg_unknown"], "cfg_unknown.json: training.lrr: unknown key"),
    ("config-wrong-type", ["--config", "@cfg_type"], "cfg_type.json: training.lr: expected a number"),
    ("config-nan", ["--config", "@cfg_nan"], "cfg_nan.json: training.weight_decay: expected a finite number"),
    ("config-not-object", ["--config", "@cfg_list"], "cfg_list.json: training: expected an object"),
    ("config-official-bad-block", ["--config", "@cfg_official"], "training.optimizer_configs: expected an object"),
    ("config-negative-seed", ["--config", "@cfg_seed"], "cfg_seed.json: training.seed"),
    ("model-unknown", ["--model", "huge"], "expected a preset (debug, builtin, official, builtin-v3, builtin-text"),
    ("model-folder-without-weights", ["--model", "@empty"], "holds no model.safetensors or model.ckpt"),
    ("model-bad-config", ["--model", "@badmodel"], "badmodel/config.json: bogus_key"),
    ("model-not-utf8", ["--model", BAD], "UTF-8"),
    ("vae-missing", ["--vae", "@tmp/none.safetensors"], "--vae file not found"),
    ("vae-is-folder", ["--vae", "@empty"], "--vae is a folder, not a file"),
    ("t5-path-is-file", ["--t5-path", "@txt"], "--t5-path is a file, not a folder"),
    ("init-missing", ["--init", "@tmp/none"], "--init"),
    ("init-folder-without-weights", ["--init", "@empty"], "holds no model.safetensors or model.ckpt"),
    ("held-out-missing", ["--held-out", "@tmp/none"], "--held-out not found"),
    ("bench-data-missing", ["--bench-data", "@tmp/none"], "--bench-data"),
    ("bench-data-no-manifest", ["--bench-data", "@empty"], "has no manifest.jsonl"),
]
TRAIN_PATHS = [
    ("data-missing", ["--data", "@tmp/none.jsonl", "--out", "@tmp/r"], "--data not found"),
    ("data-empty", ["--data", "", "--out", "@tmp/r"], "--data: empty path"),
    ("data-device-file", ["--data", "/dev/zero", "--out", "@tmp/r"], "is not a regular file"),
    ("data-corrupt-manifest", ["--data", "@corrupt/manifest.jsonl", "--out", "@tmp/r"], "manifest.jsonl:3"),
    ("data-folder-corrupt-manifest", ["--data", "@corrupt", "--out", "@tmp/r"], "manifest.jsonl:3"),
    ("data-no-train-entries", ["--data", "@testonly/manifest.jsonl", "--out", "@tmp/r"], "no train entries"),
    ("data-infinite-seconds", ["--data", "@infinite", "--out", "@tmp/r"], "seconds"),
    ("data-folder-neither", ["--data", "@busy", "--out", "@tmp/r"], "neither pre-encoded"),
    ("data-file-trailing-slash", ["--data", "@manifest/", "--out", "@tmp/r"], "trailing '/'"),
    ("data-brace-range-huge", ["--data", "@tmp/s-{0..999999999}.tar", "--out", "@tmp/r"], "more than 100000"),
    ("data-brace-range-bad", ["--data", "@tmp/s-{a..b}.tar", "--out", "@tmp/r"], "bad brace range"),
    ("data-no-shards", ["--data", "@tmp/s-*.tar", "--out", "@tmp/r"], "no tar shards found"),
    ("out-is-data", ["--data", "@manifest", "--out", "@corpus"], "is also the --data folder"),
    ("out-is-model", ["--data", "@manifest", "--out", "@model", "--model", "@model"], "is also the --model folder"),
    ("out-is-file", ["--data", "@manifest", "--out", "@txt"], "is a file, not a folder"),
    ("out-proc", ["--data", "@manifest", "--out", "/proc/audiox-run"], "not writable"),
    ("out-read-only", ["--data", "@manifest", "--out", "@ro"], "not writable"),
    ("out-empty", ["--data", "@manifest", "--out", ""], "--out: empty path"),
    ("resume-without-run", ["--data", "@manifest", "--out", "@tmp/r", "--resume"], "--resume"),
    ("run-exists-without-resume", ["--data", "@manifest", "--out", "@runout"], "already holds a run"),
    ("data-required", ["--out", "@tmp/r"], "the following arguments are required: --data"),
]

TRAIN_VAE = [
    ("max-steps-zero", ["--max-steps", "0"], "--max-steps: must be >= 1"),
    ("batch-size-zero", ["--batch-size", "0"], "--batch-size: must be >= 1"),
    ("crop-tiny", ["--crop", "100"], "--crop: must be >= 256"),
    ("crop-off-hop", ["--crop", "1000"], "multiple of the VAE hop (64 samples)"),
    ("crop-huge", ["--crop", str(10**9)], "--crop: must be <="),
    ("lr-nan", ["--lr", "nan"], "--lr: must be a finite number"),
    ("seed-negative", ["--seed", "-1"], "--seed: must be >= 0"),
    ("workers-negative", ["--num-workers=-1"], "--num-workers: must be >= 0"),  # one name with `audiox train`
    ("save-every-zero", ["--save-every", "0"], "--save-every: must be >= 1"),
    ("eval-every-negative", ["--eval-every", "-1"], "--eval-every: must be >= 0"),
    ("max-minutes-negative", ["--max-minutes=-1"], "--max-minutes: must be >= 0"),
    ("segment-seconds-zero", ["--segment-seconds", "0"], "--segment-seconds: must be > 0"),
    ("segment-seconds-nan", ["--segment-seconds", "nan"], "--segment-seconds: must be a finite number"),
    ("precision-unknown", ["--precision", "fp8"], "--precision: unknown 'fp8'"),
    ("accelerator-bogus", ["--accelerator", "bogus"], "--accelerator: unknown accelerator"),
    ("devices-zero", ["--devices", "0"], "--devices: must be >= 1"),
    ("threads-negative", ["--threads=-2"], "--threads: must be >= 1"),
    ("model-unknown", ["--model", "huge"], "--model not found; expected a preset"),
    ("model-is-folder", ["--model", "@model"], "--model is a folder; pass its config.json"),
    ("model-bad-config", ["--model", "@badmodel/config.json"], "badmodel/config.json: bogus_key"),
    ("init-missing", ["--init", "@tmp/none.safetensors"], "--init file not found"),
    ("config-missing", ["--config", "@tmp/none.json"], "--config file not found"),
    ("config-not-json", ["--config", "@txt"], "notes.txt: not valid JSON"),
    ("latent-noise-without-latents", ["--latent-noise", "0.1"], "--latent-noise: only with --latents"),
    ("latent-noise-negative", ["--latent-noise=-1"], "--latent-noise: must be >= 0"),
    ("latents-not-packed", ["--latents", "@corpus"], "not a packed folder"),
    ("resume-without-run", ["--resume"], "--resume"),
]
TRAIN_VAE_PATHS = [
    ("data-missing", ["--data", "@tmp/none.jsonl", "--out", "@tmp/v"], "--data file not found"),
    ("data-folder-without-manifest", ["--data", "@empty", "--out", "@tmp/v"], "manifest.jsonl: --data file not found"),
    ("data-segments-missing", ["--data", "@tmp/none.mulaw.xz", "--out", "@tmp/v"], "--data file not found"),
    ("data-corrupt-manifest", ["--data", "@corrupt", "--out", "@tmp/v"], "manifest.jsonl:3"),
    ("data-no-train-entries", ["--data", "@testonly", "--out", "@tmp/v"], "no train entries"),
    ("write-segments-wrong-suffix", ["--data", "@corpus", "--out", "@tmp/v", "--write-segments", "@tmp/s.wav"],
     "must be a file ending in .mulaw.xz"),
    ("write-segments-onto-data", ["--data", "@seg", "--out", "@tmp/v", "--write-segments", "@seg"],
     "is also an input file"),
    ("write-segments-folder", ["--data", "@corpus", "--out", "@tmp/v", "--write-segments", "@tmp/x.mulaw.xz/"],
     "must be a file ending in .mulaw.xz"),
    ("write-segments-proc", ["--data", "@corpus", "--out", "@tmp/v", "--write-segments", "/proc/s.mulaw.xz"],
     "not writable"),
    ("out-is-data", ["--data", "@corpus", "--out", "@corpus"], "is also the --data folder"),
    ("out-is-file", ["--data", "@corpus", "--out", "@txt"], "is a file, not a folder"),
    ("out-overwrites-init", ["--data", "@corpus", "--out", "@vaeout", "--init", "@vaeout/vae.safetensors"],
     "is the --init file"),
]

PREENCODE = [
    ("batch-size-zero", ["--batch-size", "0"], "--batch-size: must be >= 1"),
    ("shard-items-zero", ["--shard-items", "0"], "--shard-items: must be >= 1"),
    ("parts-bogus", ["--packed", "--parts", "bogus"], "--parts: expected some of video,text,audio"),
    ("parts-twice", ["--packed", "--parts", "audio,audio"], "(each once)"),
    ("parts-empty", ["--packed", "--parts", ","], "--parts: expected some of"),
    ("parts-without-packed", ["--parts", "audio"], "only with --packed"),
    ("device-bogus", ["--device", "bogus"], "--device: unknown device 'bogus'"),
    ("device-cuda-on-cpu", ["--device", "cuda"], "no CUDA device"),
    ("split-unknown", ["--split", "dev"], "--split: unknown 'dev'"),
    ("init-seed-negative", ["--init-seed", "-1"], "--init-seed: must be >= 0"),
    ("threads-negative", ["--threads=-2"], "--threads: must be >= 1"),
    ("dtype-unknown", ["--dtype", "int4"], "invalid choice"),
    ("model-unknown", ["--model", "huge"], "expected a preset"),
]
PREENCODE_PATHS = [
    ("data-missing", ["--data", "@tmp/none.jsonl", "--out", "@tmp/p"], "--data file not found"),
    ("data-folder-without-manifest", ["--data", "@empty", "--out", "@tmp/p"], "--data file not found"),
    ("data-corrupt-manifest", ["--data", "@corrupt", "--out", "@tmp/p"], "manifest.jsonl:3"),
    ("data-no-entries-of-split", ["--data", "@testonly", "--out", "@tmp/p"], "no train entries"),
    ("out-is-data", ["--data", "@manifest", "--out", "@corpus", "--force"], "is also the --data folder"),
    ("out-not-empty", ["--data", "@manifest", "--out", "@busy"], "not empty; pass --force"),
    ("packed-out-not-empty", ["--data", "@manifest", "--out", "@busy", "--packed"], "not empty; pass --force"),
    ("out-is-file", ["--data", "@manifest", "--out", "@txt"], "is a file, not a folder"),
    ("out-sys", ["--data", "@manifest", "--out", "/sys/audiox"], "not writable"),
]

DEMO = [
    ("steps-zero", ["--steps", "0"], "--steps: must be >= 1"),
    ("steps-huge", ["--steps", str(10**6)], "--steps: must be <= 1000"),
    ("seed-negative", ["--seed", "-1"], "--seed: must be >= 0"),
    ("seed-too-big", ["--seed", str(2**64)], "--seed: must be <="),
    ("model-missing", ["--model", "@tmp/nomodel"], "--model not found"),
    ("model-text-file", ["--model", "@txt"], "not a model folder or a weights file"),
    ("video-missing", ["--video", "@tmp/none.mp4"], "--video file not found"),
    ("video-is-folder", ["--video", "@empty"], "--video is a folder, not a file"),
    ("video-inside-out", ["--video", "@video", "--out", "@busy"], "is inside --out"),
    ("out-is-model", ["--model", "@model", "--out", "@model"], "is also the --model folder"),
    ("out-is-file", ["--out", "@txt"], "is a file, not a folder"),
    ("out-proc", ["--out", "/proc/audiox-demo"], "not writable"),
    ("out-empty", ["--out", ""], "--out: empty path"),
    ("out-not-utf8", ["--out", f"@tmp/{BAD}"], "UTF-8"),
]

MISSING_ACTION = [
    ("synth", ["synth"], "synth: missing action"),
    ("evaluate", ["evaluate"], "evaluate: missing action"),
    ("synth-unknown-action", ["synth", "fetch"], "invalid choice"),
]


def _ids(table: list[tuple]) -> list[str]:
    return [case[0] for case in table]


def _check(paths: dict[str, Path], argv: list[str], expect: str) -> None:
    res = assert_refused(_argv(argv, paths), expect, paths["tmp"])
    assert res.stdout == "", res.stdout  # refused before any progress or result line


@pytest.mark.parametrize("name, argv, expect", CONVERT, ids=_ids(CONVERT))
def test_convert_refuses(paths, name, argv, expect):
    _check(paths, ["convert", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", SYNTH + SYNTH_OUT, ids=_ids(SYNTH + SYNTH_OUT))
def test_synth_build_refuses(paths, name, argv, expect):
    base = [] if any(a == "--out" for a in argv) else ["--out", "@tmp/corpus2"]
    n = [] if any(a.startswith("--n") for a in argv) else ["--n", "2"]
    _check(paths, ["synth", "build", *base, *n, *argv], expect)


@pytest.mark.parametrize("name, argv, expect", EVAL_SYNTH, ids=_ids(EVAL_SYNTH))
def test_evaluate_synth_refuses_values(paths, name, argv, expect):
    _check(paths, ["evaluate", "synth", "--data", "@corpus", "--out", "@tmp/r", "--oracle", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", EVAL_SYNTH_PATHS, ids=_ids(EVAL_SYNTH_PATHS))
def test_evaluate_synth_refuses_paths(paths, name, argv, expect):
    _check(paths, ["evaluate", "synth", "--oracle", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", EVAL_CLASSIFIER, ids=_ids(EVAL_CLASSIFIER))
def test_evaluate_classifier_refuses_values(paths, name, argv, expect):
    _check(paths, ["evaluate", "classifier", "--data", "@corpus", "--out", "@tmp/c", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", EVAL_CLASSIFIER_PATHS, ids=_ids(EVAL_CLASSIFIER_PATHS))
def test_evaluate_classifier_refuses_paths(paths, name, argv, expect):
    _check(paths, ["evaluate", "classifier", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", TRAIN, ids=_ids(TRAIN))
def test_train_refuses_values(paths, name, argv, expect):
    _check(paths, ["train", "--data", "@manifest", "--out", "@tmp/r", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", TRAIN_PATHS, ids=_ids(TRAIN_PATHS))
def test_train_refuses_paths(paths, name, argv, expect):
    _check(paths, ["train", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", TRAIN_VAE, ids=_ids(TRAIN_VAE))
def test_train_vae_refuses_values(paths, name, argv, expect):
    _check(paths, ["train-vae", "--model", "debug", "--data", "@corpus", "--out", "@tmp/v", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", TRAIN_VAE_PATHS, ids=_ids(TRAIN_VAE_PATHS))
def test_train_vae_refuses_paths(paths, name, argv, expect):
    _check(paths, ["train-vae", "--model", "debug", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", PREENCODE, ids=_ids(PREENCODE))
def test_preencode_refuses_values(paths, name, argv, expect):
    _check(paths, ["preencode", "--data", "@manifest", "--out", "@tmp/p", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", PREENCODE_PATHS, ids=_ids(PREENCODE_PATHS))
def test_preencode_refuses_paths(paths, name, argv, expect):
    _check(paths, ["preencode", *argv], expect)


@pytest.mark.parametrize("name, argv, expect", DEMO, ids=_ids(DEMO))
def test_demo_refuses(paths, name, argv, expect):
    out = [] if "--out" in argv else ["--out", "@tmp/demo"]
    _check(paths, ["demo", *out, *argv], expect)


@pytest.mark.parametrize("name, argv, expect", MISSING_ACTION, ids=_ids(MISSING_ACTION))
def test_missing_action_refused(paths, name, argv, expect):
    _check(paths, argv, expect)


def test_table_size():
    """At least 90 refused inputs across these commands, each name unique in its table."""
    tables = [CONVERT, SYNTH, SYNTH_OUT, EVAL_SYNTH, EVAL_SYNTH_PATHS, EVAL_CLASSIFIER, EVAL_CLASSIFIER_PATHS, TRAIN,
              TRAIN_PATHS, TRAIN_VAE, TRAIN_VAE_PATHS, PREENCODE, PREENCODE_PATHS, DEMO, MISSING_ACTION]
    ids = [case[0] for t in tables for case in t]
    assert len(ids) >= 90
    assert all(len(set(_ids(t))) == len(t) for t in tables)


UI = [
    ("port-zero", ["--port", "0"], "--port: must be >= 1"),
    ("port-huge", ["--port", "65536"], "--port: must be <= 65535"),
    ("port-not-int", ["--port", "http"], "--port: expected an integer"),
    ("max-queue-zero", ["--max-queue", "0"], "--max-queue: must be >= 1"),
    ("max-queue-huge", ["--max-queue", str(10**6)], "--max-queue: must be <= 1000"),
    ("concurrency-zero", ["--concurrency", "0"], "--concurrency: must be >= 1"),
    ("concurrency-huge", ["--concurrency", "1000"], "--concurrency: must be <= 64"),
    ("host-empty", ["--host", ""], "--host: expected an address"),
    ("host-space", ["--host", "127.0.0.1 "], "--host: expected an address"),
    ("host-not-utf8", ["--host", BAD], "UTF-8"),
    ("model-missing", ["--model", "@tmp/nomodel"], "--model not found"),
    ("model-text-file", ["--model", "@txt"], "not a model folder or a weights file"),
    ("model-bad-config", ["--model", "@badmodel"], "bogus_key"),
    ("t5-path-missing", ["--t5-path", "@tmp/no-t5"], "--t5-path folder not found"),
    ("t5-path-is-file", ["--t5-path", "@txt"], "--t5-path is a file, not a folder"),
]


@pytest.mark.parametrize("name, argv, expect", UI, ids=_ids(UI))
def test_ui_refuses(paths, name, argv, expect):
    _check(paths, ["ui", *argv], expect)


def test_trainers_share_one_definition_of_their_common_flags():
    """`train` and `train-vae` take the shared flags with the same names and types (`--num-workers` in both; the
    old `train-vae --workers` is refused as unknown)."""
    from audiox.cli import build_parser, main
    from audiox.commands.run_flags import HELP

    def options(command: str) -> dict[str, tuple]:
        sub = next(a for a in build_parser(command)._actions if isinstance(a, argparse._SubParsersAction))
        return {a.dest: (tuple(a.option_strings), a.type, a.required) for a in sub.choices[command]._actions}

    train, vae = options("train"), options("train-vae")
    assert set(HELP) <= set(train) and set(HELP) <= set(vae)
    assert {d: train[d] for d in HELP} == {d: vae[d] for d in HELP}
    assert main(["train-vae", "--data", "x", "--out", "y", "--workers", "1"]) == 2
