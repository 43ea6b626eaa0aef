"""Move trained weights between machines in few, small files: ``pack`` and ``unpack``.

``pack RUN_NATIVE_DIR OUT_PREFIX``: the model's tensors except the VAE (which the receiving side already has) as
fp16, bytes regrouped (high bytes, then low bytes) and LZMA-compressed, split into parts of at most 15 MiB
(``OUT_PREFIX.part0``, ...), plus ``OUT_PREFIX.json`` (names, shapes, dtypes).
``unpack OUT_PREFIX SAFETENSORS``: the inverse, written as one safetensors file.
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

PART = 15 * 2**20


def pack(native: str, prefix: str) -> None:
    sd = load_file(str(Path(native) / "model.safetensors"))
    keep = {k: v for k, v in sd.items() if "pretransform." not in k}
    names = sorted(keep)
    floats = [k for k in names if keep[k].is_floating_point()]
    if len(floats) != len(names):
        raise SystemExit(f"non-float tensors: {sorted(set(names) - set(floats))}")
    raw = np.concatenate([keep[k].to(torch.float16).contiguous().view(torch.int16).numpy().ravel() for k in names])
    pairs = raw.view(np.uint8).reshape(-1, 2)
    data = lzma.compress(np.concatenate([pairs[:, 1], pairs[:, 0]]).tobytes(), preset=1)
    parts = [data[i:i + PART] for i in range(0, len(data), PART)]
    for i, p in enumerate(parts):
        Path(f"{prefix}.part{i}").write_bytes(p)
    meta = {"names": names, "shapes": [list(keep[k].shape) for k in names], "parts": len(parts)}
    Path(f"{prefix}.json").write_text(json.dumps(meta))
    print(f"{prefix}: {len(names)} tensors, {raw.nbytes / 1e6:.1f} MB fp16 -> {len(data) / 1e6:.1f} MB in {len(parts)}")


def unpack(prefix: str, out: str) -> None:
    meta = json.loads(Path(f"{prefix}.json").read_text())
    data = lzma.decompress(b"".join(Path(f"{prefix}.part{i}").read_bytes() for i in range(meta["parts"])))
    half = len(data) // 2
    b = np.frombuffer(data, np.uint8)
    pairs = np.stack([b[half:], b[:half]], axis=1).reshape(-1).view(np.float16)
    tensors, pos = {}, 0
    for name, shape in zip(meta["names"], meta["shapes"]):
        n = int(np.prod(shape)) if shape else 1
        tensors[name] = torch.from_numpy(pairs[pos:pos + n].copy()).reshape(shape)
        pos += n
    save_file(tensors, out)
    print(f"{out}: {len(tensors)} tensors")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        raise SystemExit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(sys.argv[2], sys.argv[3])
