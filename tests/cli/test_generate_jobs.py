"""`audiox generate` runs that succeed: batch flags are the jobs' defaults, reruns replace whole output sets."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from harness import run_cli


def test_batch_flags_are_defaults(debug_model_dir, tmp_path):
    """--seed, --text and --steps apply to every job that does not set them; a job's own values win."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"out": "a.wav"}) + "\n" + json.dumps({"out": "sub/b.wav", "text": "own",
                                                                      "seed": 9}) + "\n")
    res = run_cli(["generate", "--model", str(debug_model_dir), "--batch", str(jobs), "--out-dir",
                   str(tmp_path / "o"), "--seed", "5", "--text", "flag text", "--steps", "2", "--sampler", "euler",
                   "--no-progress"])
    assert res.code == 0, res.stderr
    a = json.loads((tmp_path / "o" / "a.json").read_text())
    b = json.loads((tmp_path / "o" / "sub" / "b.json").read_text())
    assert (a["seed"], a["text"], a["steps"]) == (5, ["flag text"], 2)
    assert (b["seed"], b["text"], b["steps"]) == (9, ["own"], 2)


def test_generated_files_are_complete_sets(debug_model_dir, tmp_path):
    """A second run over the same outputs replaces WAV and sidecar together and leaves no temporary file."""
    out = tmp_path / "o.wav"
    for seed in (1, 2):
        res = run_cli(["generate", "--model", str(debug_model_dir), "--text", "x", "--seed", str(seed), "--steps",
                       "2", "--sampler", "euler", "--no-progress", "-o", str(out)])
        assert res.code == 0, res.stderr
        assert json.loads(out.with_suffix(".json").read_text())["seed"] == seed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json", "o.wav"]
    assert np.isfinite(sf.read(out)[0]).all()
