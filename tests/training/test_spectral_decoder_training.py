"""scripts/train_spectral_decoder.py: trains an inverse-STFT decoder on packed latents and resumes exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from test_train_utils import make_corpus

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "scripts" / "train_spectral_decoder.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_spectral_decoder_trains_resumes_exactly_and_checks_the_encoder(tmp_path: Path) -> None:
    from audiox.data.packed import pack
    from audiox.models.presets import build_model
    from audiox.training.autoencoder import save_vae, vae_from_file

    model = build_model("debug", seed=0).eval()
    manifest = make_corpus(tmp_path / "data", n_text=3)
    pack(model, manifest, tmp_path / "pack", batch_size=3)
    from audiox.data.packed import PackedDataset  # a corpus without video or images packs without video.mp4

    assert len(PackedDataset(tmp_path / "pack")) == 3 and not (tmp_path / "pack" / "video.mp4").exists()
    vae_file = tmp_path / "vae.safetensors"
    save_vae(vae_file, model.pretransform.model, model.config.model.pretransform)
    common = [str(tmp_path / "pack"), str(tmp_path / "data"), "--vae", str(vae_file), "--model", "debug",
              "--channels", "16", "--pre-blocks", "1", "--post-blocks", "1", "--n-fft", "64", "--crop-frames",
              "32", "--batch-size", "2", "--threads", "1", "--save-every", "3"]
    straight = run(*common, "--out", str(tmp_path / "a"), "--max-steps", "6")
    assert straight.returncode == 0, straight.stderr
    first = run(*common, "--out", str(tmp_path / "b"), "--max-steps", "3")
    assert first.returncode == 0, first.stderr
    resumed = run(*common, "--out", str(tmp_path / "b"), "--max-steps", "6", "--resume")
    assert resumed.returncode == 0 and "resumed at step 3" in resumed.stderr, resumed.stderr
    a, b = load_file(tmp_path / "a" / "vae.safetensors"), load_file(tmp_path / "b" / "vae.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    init = {f"pretransform.model.{k}": v for k, v in model.pretransform.model.state_dict().items()}
    assert not torch.equal(a["pretransform.model.decoder.head.weight"], torch.zeros_like(
        a["pretransform.model.decoder.head.weight"]))
    enc = [k for k in a if ".encoder." in k]
    assert enc and all(torch.equal(a[k], init[k]) for k in enc)  # the encoder is untouched
    vae, cfg = vae_from_file(tmp_path / "a" / "vae.safetensors")
    assert cfg.config.decoder.type == "istft"
    # another encoder than the one that made the packed latents is refused with a one-line reason
    other = build_model("debug", seed=5)
    save_vae(tmp_path / "other.safetensors", other.pretransform.model, other.config.model.pretransform)
    bad = run(*[c if c != str(vae_file) else str(tmp_path / "other.safetensors") for c in common],
              "--out", str(tmp_path / "c"), "--max-steps", "1")
    assert bad.returncode != 0 and "another VAE encoder" in bad.stderr and "Traceback" not in bad.stderr
