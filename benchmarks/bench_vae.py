"""VAE speed per layout and dtype against the official 1-D float32 convolutions, and the loss of bf16, in one run.

Part 1 (speed): the ``--preset`` VAE (random weights; ``official`` is the released size) encodes and decodes one
10-s window as the official 1-D convolutions in float32 (the reference), as 2-D channels-last convolutions
(``RunOptions.vae_conv2d``) in float32 and bfloat16, and chunked (``RunOptions.vae_chunk``). One JSON line per
setting: seconds, ratio to the reference, largest difference relative to the reference's peak.

Part 2 (loss, ``--audio FILE...``): the built-in model's trained VAE on real audio: the encoder's latents and the
decoded audio in bf16 against float32, as SNR in dB (higher is closer).

    python benchmarks/bench_vae.py --preset official
    python benchmarks/bench_vae.py --preset builtin --audio ../shared/media/*.mp4
"""

from __future__ import annotations

import argparse
import copy
import json
import math

import torch
from bench_inference import _machine, _rel, _time  # shared helpers (this folder is on sys.path as a script)

from audiox.models.autoencoder import AudioAutoencoder, set_conv2d
from audiox.models.presets import PRESETS, parse_config


def _snr_db(ref: torch.Tensor, est: torch.Tensor) -> float:
    return 10 * math.log10(ref.pow(2).sum().item() / max((ref - est).pow(2).sum().item(), 1e-30))


def speed(args: argparse.Namespace) -> None:
    cfg = parse_config(PRESETS[args.preset]())
    torch.manual_seed(0)
    vae = AudioAutoencoder(cfg.model.pretransform.config).eval()
    audio = torch.randn(1, vae.io_channels, cfg.sample_size) * 0.1
    z = torch.randn(1, vae.latent_dim, cfg.sample_size // vae.downsampling_ratio)
    settings = [("reference", False, torch.float32, None), ("conv2d", True, torch.float32, None),
                ("conv2d_chunk128", True, torch.float32, 128), ("conv2d_bf16", True, torch.bfloat16, None)]
    ref = {}
    for name, conv2d, dtype, chunk in settings:
        net = copy.deepcopy(vae).to(dtype)
        set_conv2d(net, conv2d)
        with torch.inference_mode():
            enc = lambda: net.encode(audio.to(dtype))  # noqa: E731, B023
            dec = lambda: net.decode(z.to(dtype), chunk=chunk)  # noqa: E731, B023
            out = {"encode": enc().float(), "decode": dec().float()}
            secs = {"encode": _time(enc, args.repeats), "decode": _time(dec, args.repeats)}
        ref = ref or {"out": out, "secs": secs}
        line = {"bench": "vae", "preset": args.preset, "setting": name, "seconds_audio": round(
            cfg.sample_size / cfg.sample_rate, 2), **_machine()}
        for k in ("encode", "decode"):
            line[f"{k}_seconds"] = round(secs[k], 3)
            line[f"{k}_speedup_vs_reference"] = round(ref["secs"][k] / secs[k], 2)
            line[f"{k}_max_rel_diff"] = _rel(out[k], ref["out"][k])
        print(json.dumps(line), flush=True)


def loss(args: argparse.Namespace) -> None:
    from audiox.media.audio import load_audio
    from audiox.pipeline import AudioXPipeline

    pipe = AudioXPipeline.from_pretrained()
    geo = pipe.geometry
    vae32 = pipe.model.pretransform.model
    vae16 = copy.deepcopy(vae32).to(torch.bfloat16)
    for v in (vae32, vae16):
        set_conv2d(v, True)
    for path in args.audio:
        wav = load_audio(path, sample_rate=geo.sample_rate, channels=geo.channels)[..., : geo.sample_size][None]
        with torch.inference_mode():
            z32 = vae32.encode(wav)
            z16 = vae16.encode(wav.bfloat16()).float()
            a32 = vae32.decode(z32)
            try:
                a16 = vae16.decode(z32.bfloat16()).float()
            except RuntimeError as e:  # e.g. an FFT without bf16 kernels
                a16, err = None, str(e).splitlines()[0][:120]
        line = {"bench": "vae_bf16_loss", "file": str(path), "encoder_latent_snr_db": round(_snr_db(z32, z16), 2)}
        if a16 is None:
            line["decoder"] = f"not run in bf16: {err}"
        else:
            line["decoder_audio_snr_db"] = round(_snr_db(a32, a16), 2)
        print(json.dumps(line), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="official", choices=sorted(PRESETS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--audio", nargs="*", default=[], help="real audio or video files for the bf16 loss (part 2)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.audio:
        loss(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
