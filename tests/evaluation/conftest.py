"""A small freshly built held-out corpus (every clip in the ``test`` split) shared by the SynthBench tests.

It is built with a seed the committed classifier never saw (its training corpus used seed 1234), plus one
pitched-prompt clip (a lone beep) so that the pitch metric is exercised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

HELDOUT_SEED = 20261127
HELDOUT_N = 20


@pytest.fixture(scope="session")
def heldout_corpus(tmp_path_factory) -> Path:
    import soundfile as sf

    from audiox.data.manifest import ManifestEntry, read_manifest, write_manifest
    from audiox.data.synth import BuildConfig, build
    from audiox.data.synth.sfx import make_sfx

    out = tmp_path_factory.mktemp("synthbench") / "corpus"
    build(BuildConfig(out=out, n=HELDOUT_N, seed=HELDOUT_SEED, workers=2, test_fraction=1.0))
    audio, labels = make_sfx(np.random.default_rng(HELDOUT_SEED), sample_rate=44100, seconds=10.0, channels=2,
                             classes=["beep"])
    sf.write(out / "audio" / "beep.wav", audio.T, 44100, subtype="FLOAT")
    beep = ManifestEntry(id="beep", split="test", kind="sfx", task="t2a", audio="audio/beep.wav", video=None,
                         image=None, caption="A beep.", audio_prompt=None, sample_rate=44100, seconds=10.0,
                         labels={"kind": "sfx", "description": "A beep.", **labels})
    write_manifest(out / "manifest.jsonl", [beep, *read_manifest(out / "manifest.jsonl")])
    return out


SCORED_TASKS = ("tv2a", "tv2m", "i2a", "i2m", "inpaint")


@pytest.fixture(scope="session")
def scored_ids(heldout_corpus) -> tuple[str, ...]:
    """The beep clip (t2a, pitched) plus the first clip of each of :data:`SCORED_TASKS` (text+video sfx and music,
    image sfx and music, inpainting): every case, kind and metric, kept small for speed."""
    from audiox.data.manifest import read_manifest

    seen: dict[str, str] = {}
    for e in read_manifest(heldout_corpus / "manifest.jsonl"):
        if e.task in SCORED_TASKS and e.id != "beep":
            seen.setdefault(e.task, e.id)
    assert set(seen) == set(SCORED_TASKS)
    return ("beep", *seen.values())
