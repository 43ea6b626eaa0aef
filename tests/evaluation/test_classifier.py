"""The committed SynthBench reference classifier: its record, its accuracy on freshly built real held-out audio,
save/load and a training smoke run."""

from __future__ import annotations

import json

import pytest
import torch

from audiox.errors import MediaError
from audiox.evaluation.classifier import (
    ASSET_DIR,
    evaluate_classifier,
    load_classifier,
    load_clip,
    save_classifier,
    train_classifier,
    true_labels,
    window_targets,
)

MIN_ACCURACY = 0.90


def test_committed_record_reports_heldout_accuracy_and_command():
    meta = json.loads((ASSET_DIR / "classifier.json").read_text())
    assert meta["heldout"]["accuracy"] >= MIN_ACCURACY and meta["heldout"]["n"] >= 100
    assert meta["command"].startswith("audiox evaluate classifier --data ")
    assert meta["corpus_command"].startswith("audiox synth build ")
    size = sum(p.stat().st_size for p in ASSET_DIR.iterdir())
    assert size < 5 * 2**20


def test_accuracy_on_fresh_real_heldout_audio(heldout_corpus):
    """Real clips of a corpus built with a seed the classifier never saw (all of it held out)."""
    res = evaluate_classifier(load_classifier(), heldout_corpus, split="test")
    assert res["n"] == 21
    assert res["accuracy"] >= MIN_ACCURACY, res


def test_window_targets_follow_events(heldout_corpus):
    from audiox.data.manifest import read_manifest

    clf = load_classifier()
    beep = read_manifest(heldout_corpus / "manifest.jsonl")[0]
    first = beep.labels["events"][0]["t"]
    y = window_targets(beep, clf.labels, first - 0.5, first + 1.0)
    assert y[clf.labels.index("beep")] == 1.0 and float(y.sum()) == 1.0
    assert float(window_targets(beep, clf.labels, 20.0, 23.0).sum()) == 0.0
    assert true_labels(beep) == {"beep"}


def test_save_load_round_trip_and_training_smoke(heldout_corpus, tmp_path):
    from audiox.data.manifest import read_manifest, write_manifest

    # a tiny "train" corpus: the first 6 held-out clips relabelled as train
    entries = read_manifest(heldout_corpus / "manifest.jsonl")[:6]
    small = tmp_path / "small"
    small.mkdir()
    (small / "audio").symlink_to(heldout_corpus / "audio")
    write_manifest(small / "manifest.jsonl", [e.__class__(**{**e.__dict__, "split": "train"}) for e in entries])
    clf = train_classifier(small, epochs=2, seed=0)
    again = train_classifier(small, epochs=2, seed=0)
    audio = load_clip(heldout_corpus, entries[1])
    assert torch.equal(clf.scores(audio, 44100), again.scores(audio, 44100))  # seeded: reproducible
    save_classifier(clf, tmp_path / "clf")
    loaded = load_classifier(tmp_path / "clf")
    assert loaded.labels == clf.labels
    assert torch.equal(loaded.scores(audio, 44100), clf.scores(audio, 44100))  # same weights, same arithmetic
    with pytest.raises(MediaError, match="no classifier"):
        load_classifier(tmp_path / "missing")


def test_cli_below_min_accuracy_writes_nothing(heldout_corpus, tmp_path, monkeypatch, capsys):
    """``evaluate classifier`` checks --min-accuracy before saving: a refused run leaves no output behind."""
    from audiox import cli
    from audiox.data.manifest import read_manifest, write_manifest
    from audiox.evaluation import classifier as module

    entries = read_manifest(heldout_corpus / "manifest.jsonl")[:2]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_manifest(corpus / "manifest.jsonl", [e.__class__(**{**e.__dict__, "split": "train"}) for e in entries])
    monkeypatch.setattr(module, "train_classifier", lambda *a, **k: object())
    monkeypatch.setattr(module, "evaluate_classifier", lambda *a, **k: {"accuracy": 0.5, "n": 2})
    out = tmp_path / "clf"
    code = cli.main(["evaluate", "classifier", "--data", str(corpus), "--out", str(out), "--min-accuracy", "0.9"])
    err = capsys.readouterr().err
    assert code == 2 and "below --min-accuracy 0.9; the classifier was not saved" in err, err
    assert not out.exists()
