"""No pickle runs code: a crafted checkpoint is refused by every command that loads one, with one line.

The payload is what an attacker would ship: a ``torch.save`` file whose object has a ``__reduce__`` returning
``os.system`` with a command that creates a marker file. Every loading command must refuse it with one ``error:``
line and exit 2, leave the folder it works in unchanged (tests/cli/harness.py), and the marker must not exist.
``train --resume`` and ``train-vae --resume`` also refuse truncated, empty, foreign and folder checkpoints before
the run folder is touched (no rewritten config, no new log folder). A scan of the source keeps every
``torch.load`` weights-only and every other unpickler out of the package.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from harness import assert_refused

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("audiox", "scripts", "benchmarks")


class _Payload:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _evil(path: Path, marker: Path, *, where: str = "state_dict") -> Path:
    """A torch.save file with the payload in ``global_step`` (Lightning checkpoints) or in the state dict."""
    payload = _Payload(f"touch {marker}")
    obj = {"global_step": payload, "state_dict": {}} if where == "global_step" else {"state_dict": {"w": payload}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def _corpus(folder: Path) -> Path:
    """Two train clips and one test clip (8 kHz, silent); returns the manifest."""
    (folder / "audio").mkdir(parents=True)
    lines = []
    for i, split in enumerate(("train", "train", "test")):
        sf.write(folder / f"audio/{i}.wav", np.zeros(4000, np.float32), 8000)
        lines.append({"id": f"{i:04d}", "split": split, "kind": "sfx", "task": "t2a", "audio": f"audio/{i}.wav",
                      "video": None, "image": None, "caption": f"clip {i}", "audio_prompt": None,
                      "sample_rate": 8000, "seconds": 0.5, "labels": {}})
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return path


@pytest.fixture
def fx(tmp_path: Path) -> dict[str, Path]:
    """A corpus, a marker path, an evil model folder (debug config + evil model.ckpt) and an evil VAE file."""
    from audiox.config import config_to_json
    from audiox.models.presets import get_preset

    marker = tmp_path / "MARKER"
    p = {"tmp": tmp_path, "marker": marker, "manifest": _corpus(tmp_path / "corpus")}
    p["model"] = tmp_path / "evil_model"
    _evil(p["model"] / "model.ckpt", marker)
    (p["model"] / "config.json").write_text(config_to_json(get_preset("debug")))
    p["vae"] = _evil(tmp_path / "evil_vae.ckpt", marker)
    return p


def _argv(template: list[str], fx: dict[str, Path]) -> list[str]:
    out = []
    for item in template:
        for name in sorted(fx, key=len, reverse=True):
            item = item.replace(f"@{name}", str(fx[name]))
        out.append(item)
    return out


# every command and flag that reads a torch.save file a user may have downloaded
LOADERS = [
    ("generate --model", ["generate", "--model", "@model", "--text", "rain", "-o", "@tmp/o.wav"]),
    ("convert", ["convert", "@model", "@tmp/converted"]),
    ("convert weights file", ["convert", "@model/model.ckpt", "@tmp/converted"]),
    ("train --model", ["train", "--model", "@model", "--data", "@manifest", "--out", "@tmp/run", "--no-progress"]),
    ("train --init", ["train", "--init", "@model", "--data", "@manifest", "--out", "@tmp/run", "--no-progress"]),
    ("train --vae", ["train", "--vae", "@vae", "--data", "@manifest", "--out", "@tmp/run", "--no-progress"]),
    ("train-vae --init", ["train-vae", "--model", "debug", "--init", "@vae", "--data", "@manifest", "--out",
                          "@tmp/run", "--no-progress"]),
    ("preencode --vae", ["preencode", "--vae", "@vae", "--data", "@manifest", "--out", "@tmp/pre"]),
    ("preencode --model", ["preencode", "--model", "@model", "--data", "@manifest", "--out", "@tmp/pre"]),
    ("evaluate synth --model", ["evaluate", "synth", "--model", "@model", "--data", "@tmp/corpus", "--out",
                                "@tmp/eval"]),
]


@pytest.mark.parametrize("name, argv", LOADERS, ids=[c[0] for c in LOADERS])
def test_a_malicious_pickle_runs_no_code(fx, name, argv):
    res = assert_refused(_argv(argv, fx), "refused", fx["tmp"])
    assert "posix.system" in res.stderr and "nothing in it was run" in res.stderr
    assert not fx["marker"].exists()


def _run_folder(fx: dict[str, Path], name: str) -> Path:
    """A run folder as a first run leaves it: config, logs, checkpoints/ (last.ckpt is the case's)."""
    out = fx["tmp"] / name
    (out / "checkpoints").mkdir(parents=True)
    (out / "logs" / "from-step-00000000").mkdir(parents=True)
    (out / "train_config.json").write_text('{"max_steps": 2}')
    (out / "vae_train_config.json").write_text('{"training": {}}')
    return out


def _real_header(path: Path) -> None:
    """A real, small Lightning-like checkpoint (zip format), cut in half: a truncated write."""
    import io

    buf = io.BytesIO()
    torch.save({"global_step": 2, "state_dict": {"w": torch.zeros(1000)}, "optimizer_states": [], "loops": {}}, buf)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


RESUME_CASES = [
    ("malicious-global-step", "refused: it holds posix.system"),
    ("truncated", "truncated or not a torch checkpoint"),
    ("empty", "--resume checkpoint is empty"),
    ("folder", "checkpoint is a folder"),
    ("plain-pickle", "cannot read --resume checkpoint: not a torch checkpoint"),
    ("not-a-dict", "not a Lightning checkpoint"),
    ("missing-keys", "lacks optimizer_states, loops"),
    ("negative-step", "global_step must be an integer >= 0"),
]


def _make_last(case: str, last: Path, marker: Path) -> None:
    import pickle

    if case == "malicious-global-step":
        _evil(last, marker, where="global_step")
    elif case == "truncated":
        _real_header(last)
    elif case == "empty":
        last.write_bytes(b"")
    elif case == "folder":
        (last / "checkpoint").mkdir(parents=True)
    elif case == "plain-pickle":
        last.write_bytes(pickle.dumps(_Payload(f"touch {marker}")))
    elif case == "not-a-dict":
        torch.save([1, 2, 3], last)
    elif case == "missing-keys":
        torch.save({"global_step": 1, "state_dict": {"w": torch.zeros(1)}}, last)
    elif case == "negative-step":
        torch.save({"global_step": -3, "state_dict": {"w": torch.zeros(1)}, "optimizer_states": [], "loops": {},
                    "audiox": {}}, last)


@pytest.mark.parametrize("command", ["train", "train-vae"])
@pytest.mark.parametrize("case, expect", RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_resume_refuses_a_bad_checkpoint_before_touching_the_run(fx, command, case, expect):
    out = _run_folder(fx, "run")
    _make_last(case, out / "checkpoints" / "last.ckpt", fx["marker"])
    extra = ["--model", "debug"] if command == "train-vae" else []
    argv = [command, *extra, "--data", str(fx["manifest"]), "--out", str(out), "--resume", "--no-progress"]
    res = assert_refused(argv, expect, fx["tmp"])  # train_config.json, logs/: unchanged; nothing created
    assert str(out / "checkpoints" / "last.ckpt") in res.stderr
    assert not fx["marker"].exists()


def _unsafe_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """``torch.load`` without ``weights_only=True`` and any other unpickler (pickle/dill/joblib/... loads,
    ``Unpickler``, ``numpy.load(allow_pickle=True)``, ``pandas.read_pickle``)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        kw = {k.arg: k.value for k in node.keywords}
        if name in ("torch.load", "torch.serialization.load"):
            wo = kw.get("weights_only")
            if not (isinstance(wo, ast.Constant) and wo.value is True):
                found.append((node.lineno, name))
        elif name.endswith((".load", ".loads", "Unpickler")) and name.split(".")[0] in (
                "pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"):
            found.append((node.lineno, name))
        elif name in ("pickle.Unpickler", "Unpickler", "read_pickle", "pd.read_pickle", "pandas.read_pickle"):
            found.append((node.lineno, name))
        elif name in ("np.load", "numpy.load"):
            ap = kw.get("allow_pickle")
            if ap is not None and not (isinstance(ap, ast.Constant) and ap.value is False):
                found.append((node.lineno, name))
    for node in ast.walk(tree):  # `from pickle import load` and friends
        if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "_pickle", "dill", "cloudpickle"):
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names
                      if a.name in ("load", "loads", "Unpickler")]
    return found


def test_the_scan_finds_unsafe_loads():
    code = ("import torch, pickle, numpy as np\nfrom pickle import loads\n"
            "torch.load('a')\ntorch.load('a', weights_only=False)\ntorch.load('a', weights_only=True)\n"
            "pickle.load(f)\npickle.loads(b)\nnp.load('x', allow_pickle=True)\nnp.load('x')\n")
    assert [line for line, _ in _unsafe_calls(ast.parse(code))] == [3, 4, 6, 7, 8, 2]


def test_no_unsafe_load_in_the_source():
    bad = []
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            bad += [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in _unsafe_calls(tree)]
    assert not bad, "unpickling that can run code:\n" + "\n".join(bad)
