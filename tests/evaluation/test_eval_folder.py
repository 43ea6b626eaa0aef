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


# ---- the sync protocol: click trains with known shifts --------------------------------------------------------------
SYNC_SR = 22050
HOP_S = 220 / SYNC_SR  # the onset envelope's hop (10 ms rounded to 220 samples at 22.05 kHz)


def _clicks(shift_frames: int) -> np.ndarray:
    """10 s at 22.05 kHz: a 10 ms noise burst every 0.5 s from 0.25 s (loud and soft alternating), delayed by a whole
    number of envelope hops, so the flux envelope, and every onset and beat, shift by exactly that many frames."""
    g = np.random.default_rng(0)
    burst = g.standard_normal(220) * np.exp(-np.arange(220) / 40)
    x = np.zeros(10 * SYNC_SR)
    for k in range(19):
        start = int(round((0.25 + 0.5 * k) * SYNC_SR)) + shift_frames * 220
        x[start:start + 220] += burst * (1.0 if k % 2 == 0 else 0.6)
    return x.astype(np.float32)


def test_sync_protocol_identical_shifted_and_unpaired(tmp_path: Path, capsys):
    import math

    import soundfile as sf

    from audiox.cli import main

    shifts = {"near": 3, "far": 15}  # 0.030 s: within the 0.1 s onset tolerance; 0.150 s: beyond it
    for side in ("real", "same", "shifted"):
        (tmp_path / side).mkdir()
        for name, frames in shifts.items():
            sf.write(tmp_path / side / f"{name}.wav", _clicks(frames if side == "shifted" else 0), SYNC_SR,
                     subtype="FLOAT")
    base = ["evaluate", "folder", "--protocol", "sync", "--real", str(tmp_path / "real"), "--no-progress",
            "--threads", "1"]
    assert main([*base, "--generated", str(tmp_path / "same"), "--out", str(tmp_path / "r1")]) == 0
    same = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert same["metrics"] == {"onset_ap:spectral-flux": 1.0, "onset_f1:spectral-flux": 1.0,
                               "beat_align:spectral-flux": 1.0}
    assert main([*base, "--generated", str(tmp_path / "shifted"), "--out", str(tmp_path / "r2")]) == 0
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    per = {k.split(":")[0]: v["generated"] for k, v in report["per_clip"].items()}
    # near: every onset within tolerance (AP 1, F1 1); far: every onset 0.15 s away from the nearest real one (0.35 s
    # from the other neighbour), so nothing matches
    assert per["onset_ap"] == {"near": 1.0, "far": 0.0} and per["onset_f1"] == {"near": 1.0, "far": 0.0}
    for name, frames in shifts.items():
        s = frames * HOP_S  # every real beat's nearest generated beat is s later: BAS = exp(-s^2 / (2 sigma^2))
        # beat times are rounded to 1e-4 s, so the distance is off by up to 2e-4 s: relative error of the Gaussian
        # up to s * 2e-4 / sigma^2 (0.0024 near, 0.012 far)
        assert per["beat_align"][name] == pytest.approx(math.exp(-s * s / (2 * 0.05 ** 2)), rel=s * 2e-4 / 0.05 ** 2)
    metrics = report["metrics"]
    assert metrics["onset_ap:spectral-flux"] == 0.5 and metrics["onset_f1:spectral-flux"] == 0.5
    assert metrics["beat_align:spectral-flux"] == pytest.approx(sum(per["beat_align"].values()) / 2, rel=1e-12)
    assert report["embedders"] == {} and report["cache"]["real"] == "not used (no embedder)"
    for key in ("onset_ap", "onset_f1", "beat_align"):
        assert (tmp_path / "r2" / f"clips_{key}_spectral-flux.png").read_bytes()[:4] == b"\x89PNG"
    assert "beat alignment score (sigma 0.05 s)" in (tmp_path / "r2" / "report.md").read_text()
    (tmp_path / "same" / "extra.wav").write_bytes((tmp_path / "same" / "near.wav").read_bytes())
    capsys.readouterr()
    assert main([*base, "--generated", str(tmp_path / "same"), "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --protocol sync pairs files by name: 'extra' is only in --generated "
                   "(0 only in --real, 1 only in --generated)"]
    assert not (tmp_path / "r3").exists()
