"""Protocols, the feature cache and ``audiox evaluate folder`` end to end with the offline embedder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiox.evaluation.protocols import PROTOCOLS, FeatureSet, score

# KL of identical outputs: AudioLDM-eval adds eps = 1e-6 to the generated probability inside the log, so each class
# contributes p log(p / (p + eps)) ~ -eps: the sum over 527 classes lies in [-527e-6, 0].
KL_IDENTICAL_TOL = 527 * 1e-6


def _features(names: list[str], seed: int) -> FeatureSet:
    g = np.random.default_rng(seed)
    return FeatureSet(names, {"panns-cnn14-16k": g.normal(size=(len(names), 1, 16)).astype(np.float32),
                              "vggish": g.normal(size=(len(names), 3, 8)).astype(np.float32)},
                      {"panns-cnn14-16k": g.normal(size=(len(names), 527)).astype(np.float32)})


def test_audioldm_protocol_identical_sets_score_zero():
    names = [f"c{i}" for i in range(12)]
    fs = _features(names, 0)
    metrics, per_clip = score(PROTOCOLS["audioldm-eval"], fs, fs)
    assert metrics["fd:panns-cnn14-16k"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["fad:vggish"] == pytest.approx(0.0, abs=1e-9)
    for key in ("kl_softmax:panns-cnn14-16k", "kl_sigmoid:panns-cnn14-16k"):
        assert -KL_IDENTICAL_TOL <= metrics[key] <= 0.0
    assert set(per_clip["kl_softmax:panns-cnn14-16k"]["generated"]) == set(names)
    assert per_clip["dist_to_real_mean:vggish"]["real"].keys() == set(names)


def test_inception_score_of_uniform_classifier_is_one_and_sets_differ():
    names = [f"c{i}" for i in range(10)]
    real, gen = _features(names, 1), _features(names, 2)
    gen.logits["panns-cnn14-16k"][:] = 0.0  # softmax of equal logits: the uniform distribution
    metrics, _ = score(PROTOCOLS["audioldm-eval"], real, gen)
    assert metrics["is:panns-cnn14-16k"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["fd:panns-cnn14-16k"] > 1.0 and metrics["kl_softmax:panns-cnn14-16k"] > 0.1


def test_clap_protocol_scores_against_captions():
    names = ["a", "b"]
    audio = np.array([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=np.float32)
    fs = FeatureSet(names, {"clap": audio}, {})
    text = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 1.0])}
    metrics, per_clip = score(PROTOCOLS["clap"], fs, fs, text=text)
    assert per_clip["clap:clap"]["generated"] == pytest.approx({"a": 1.0, "b": 2 ** -0.5})
    assert metrics["clap:clap"] == pytest.approx((1 + 2 ** -0.5) / 2)


def test_read_captions_json_and_csv(tmp_path):
    from audiox.evaluation.scoring import read_captions

    (tmp_path / "c.json").write_text(json.dumps({"a": "dog", "b": "rain"}))
    assert read_captions(tmp_path / "c.json", ["b"]) == {"b": "rain"}
    (tmp_path / "c.csv").write_text("file,caption\na.wav,dog\nsub/b.flac,rain\n")
    assert read_captions(tmp_path / "c.csv", ["a", "sub/b"]) == {"a": "dog", "sub/b": "rain"}


@pytest.fixture()
def two_folders(tmp_path: Path) -> Path:
    import soundfile as sf

    g = np.random.default_rng(7)
    for side, scale in (("real", 0.1), ("gen", 0.3)):
        (tmp_path / side).mkdir()
        for i in range(3):
            sf.write(tmp_path / side / f"clip{i}.wav", (g.normal(size=8000) * scale).astype(np.float32), 16000)
    return tmp_path


def test_folder_offline_report_and_cache(two_folders: Path, monkeypatch, capsys):
    from audiox.cli import main
    from audiox.evaluation.embedders.aisfx import AisfxEmbedder

    calls = []
    run = AisfxEmbedder.run

    def counting(self, audio: torch.Tensor):
        calls.append(audio.shape[0])
        return run(self, audio)

    monkeypatch.setattr(AisfxEmbedder, "run", counting)
    root = two_folders
    argv = ["evaluate", "folder", "--real", str(root / "real"), "--generated", str(root / "gen"), "--out",
            str(root / "report"), "--cache", str(root / "cache"), "--no-progress", "--threads", "1"]
    assert main(argv) == 0
    assert sum(calls) == 6  # 3 real + 3 generated clips embedded once
    report = json.loads((root / "report" / "report.json").read_text())
    assert report["protocol"] == "offline" and report["n_real"] == report["n_generated"] == 3
    assert report["embedders"]["aisfx"]["weights_hash"] and report["versions"]["torch"] == torch.__version__
    assert report["cache"] == {"real": "computed", "generated": "computed"}
    fd, kad = report["metrics"]["fd:aisfx"], report["metrics"]["kad:aisfx"]
    assert fd > 0 and np.isfinite(kad)
    md = (root / "report" / "report.md").read_text()
    assert "protocol `offline`" in md and report["embedders"]["aisfx"]["weights_hash"] in md
    png = root / "report" / "clips_dist_to_real_mean_aisfx.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((root / "cache").glob("offline-*.safetensors"))) == 2
    # second run: every feature read back from the cache, no embedding work, the same numbers
    calls.clear()
    assert main(argv) == 0
    assert calls == []
    again = json.loads((root / "report" / "report.json").read_text())
    assert again["cache"] == {"real": "cache hit", "generated": "cache hit"}
    assert again["metrics"] == report["metrics"]
    # a changed file (same name) changes the key: that set is embedded again, the other is not
    import soundfile as sf

    sf.write(root / "gen" / "clip0.wav", np.zeros(8000, dtype=np.float32), 16000)
    assert main(argv) == 0
    assert sum(calls) == 3
    assert json.loads((root / "report" / "report.json").read_text())["cache"] == {"real": "cache hit",
                                                                                "generated": "computed"}
    assert "offline: 3 generated vs 3 real" in capsys.readouterr().out
