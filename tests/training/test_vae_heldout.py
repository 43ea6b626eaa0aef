"""``audiox train-vae --eval-every``: the held-out measurements (losses.jsonl / .png, reconstructions) are those of
the VAE at that step, and measuring does not change the training."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf
import torch
from safetensors.torch import load_file
from test_train_utils import make_corpus


def _corpus_with_test_clips(folder: Path) -> Path:
    manifest = make_corpus(folder, n_text=3)
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    for k, line in enumerate(lines[:2]):  # two held-out entries (the same audio files, other ids)
        lines.append({**line, "id": f"held{k}", "split": "test"})
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def test_heldout_measurements_are_the_saved_vaes_and_leave_training_unchanged(tmp_path: Path, one_thread) -> None:
    from audiox.cli import main
    from audiox.evaluation.vae_check import reconstruction_distances
    from audiox.models.presets import config_from
    from audiox.training.autoencoder import vae_from_file
    from audiox.training.vae_heldout import heldout_set

    manifest = _corpus_with_test_clips(tmp_path / "data")
    common = ["train-vae", "--model", "debug", "--data", str(manifest), "--crop", "2048", "--batch-size", "2",
              "--max-steps", "4", "--save-every", "4", "--accelerator", "cpu", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a"), "--eval-every", "2"]) == 0
    assert main([*common, "--out", str(tmp_path / "b"), "--eval-every", "0"]) == 0
    a, b = load_file(tmp_path / "a" / "vae.safetensors"), load_file(tmp_path / "b" / "vae.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # measuring in eval mode changes nothing, bitwise
    assert not (tmp_path / "b" / "losses.jsonl").exists()

    rows = [json.loads(x) for x in (tmp_path / "a" / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 4]
    for r in rows:
        assert r["train_loss"] > 0 and r["train_stft"] > 0 and 0 <= r["tones_passed"] <= 3
        assert all(0 <= r[f"tone_{hz}_share"] <= 1 for hz in (220, 440, 880))
    assert rows[1]["train_loss"] != rows[2]["train_loss"]  # means over each period, not one running value
    # the last row (step 4) is the final VAE's: recompute it from the saved file (the same float32 computation on the
    # same thread count; the bound allows for nothing but the order of the summed terms)
    cfg = config_from("debug")
    vae, pre = vae_from_file(tmp_path / "a" / "vae.safetensors")
    vae.eval()
    held = heldout_set(manifest, cfg.sample_rate, cfg.audio_channels, pre.config.downsampling_ratio)
    assert held.shape[0] == 2
    rec, dist = reconstruction_distances(vae, held, cfg.sample_rate)
    assert abs(rows[2]["heldout_stft"] - dist["stft"]) <= 1e-6 * dist["stft"]
    assert abs(rows[2]["heldout_logmel_l1"] - dist["logmel_l1"]) <= 1e-6 * dist["logmel_l1"]
    wav = tmp_path / "a" / "heldout" / "step-00000004" / "0.wav"
    written, sr = sf.read(wav, dtype="float32")
    assert sr == cfg.sample_rate and written.shape[0] == rec.shape[-1]
    # PCM16 on disk: one quantisation step of the reconstruction (clamped to [-1, 1])
    assert abs(torch.from_numpy(written.reshape(rec.shape[-1], -1)).T - rec[0].clamp(-1, 1)).max() <= 1 / 32767 + 1e-6
    assert (tmp_path / "a" / "losses.png").stat().st_size > 1000
    assert (tmp_path / "a" / "heldout" / "step-00000002" / "1.png").exists()


def test_a_segments_file_or_a_corpus_without_test_clips_measures_tones_only(tmp_path: Path, one_thread) -> None:
    from audiox.training.vae_heldout import heldout_set

    manifest = make_corpus(tmp_path / "data", n_text=2)
    assert heldout_set(manifest, 8000, 1, 64).shape == (0, 1, 32000)
    assert heldout_set(None, 8000, 1, 64).shape == (0, 1, 32000)
