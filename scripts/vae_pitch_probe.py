"""Is a tone's pitch in a VAE's latents? A nearest-neighbour probe over quarter tones (issue 25).

    python scripts/vae_pitch_probe.py VAE [VAE ...]

48 pure tones a quarter tone apart (196-784 Hz, 2.05 s) are encoded at amplitudes 0.15, 0.3 and 0.5, and each
latent sequence is averaged over its middle half. For each amplitude held out, every tone is matched to its
nearest neighbour (Euclidean) among the other two amplitudes' tones: ``exact`` is the share matched to its own
quarter tone, ``median`` the median error in cents. ``shifted``: the same at amplitude 0.3 with the tone started
137 samples later (another phase), matched against the unshifted tones. One JSON line per VAE (a
``vae.safetensors`` or a model folder).
"""

from __future__ import annotations

import argparse
import json

import torch

from audiox.evaluation.vae_check import pure_tone
from audiox.training.autoencoder import vae_from_file

AMPS = (0.15, 0.3, 0.5)
QUARTER_TONE = 50.0  # cents
SHIFT = 137  # samples


def _features(vae, freqs: torch.Tensor, amp: float, sample_rate: int, length: int, shift: int = 0) -> torch.Tensor:
    x = torch.stack([pure_tone(float(f), sample_rate, length + shift, amp)[shift:] for f in freqs])[:, None]
    with torch.inference_mode():
        z = vae.encode(x.expand(-1, vae.io_channels, -1))
    n = z.shape[-1]
    return z[..., n // 4: n - n // 4].mean(-1)


def _match(query: torch.Tensor, bank: torch.Tensor, labels: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    err = (labels[torch.cdist(query, bank).argmin(1)] - truth).abs().float() * QUARTER_TONE
    return {"exact": round(float((err == 0).float().mean()), 3), "median_cents": float(err.median())}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("vaes", nargs="+")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    steps = torch.arange(48)
    freqs = 196 * 2 ** (steps / 24)
    for path in a.vaes:
        vae, pre = vae_from_file(path)
        vae.eval()
        hop = pre.config.downsampling_ratio
        length = 32768 // hop * hop
        feats = {amp: _features(vae, freqs, amp, a.sample_rate, length) for amp in AMPS}
        row = {"vae": path}
        for held in AMPS:
            others = [amp for amp in AMPS if amp != held]
            bank = torch.cat([feats[amp] for amp in others])
            row[f"held_out_{held}"] = _match(feats[held], bank, steps.repeat(len(others)), steps)
        shifted = _features(vae, freqs, 0.3, a.sample_rate, length, SHIFT)
        row["shifted"] = _match(shifted, feats[0.3], steps, steps)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
