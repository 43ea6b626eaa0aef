"""The training wording and the held-out wording: coverage, determinism and no overlap.

The held-out wording measures generalisation only if training never sees it: thousands of training captions (the
corpus's template captions and :data:`~audiox.data.synth.wording.TRAIN` prompts, over every class, instrument and
clip shape) must contain none of its phrases or sentence frames.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from audiox.data.manifest import ManifestEntry
from audiox.data.synth import captions, music, sfx
from audiox.data.synth.wording import TRAIN, describe
from audiox.evaluation.wording import HELDOUT, derangement, heldout_prompt

N_LABELS = 120  # label sets per kind; each worded 10 times by each training generator


def _sfx_labels(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    names = [c.name for c in sfx.CLASSES]
    chosen = [str(n) for n in rng.choice(names, size=int(rng.integers(1, 4)), replace=False)]
    classes = [{"class": n, "count": int(rng.integers(1, 5)), "gain_db": float(rng.uniform(-10, 0)),
                "voice": "en+f3", "word": "hello", "pitch_hz": 440.0, "surface": "wood", "rate_hz": 2.0}
               for n in chosen]
    events = [{"class": n, "t": float(rng.uniform(0, 9)), "dur": 0.3} for n in chosen]
    return {"kind": "sfx", "classes": classes, "events": events, "background": {"style": "none"}}


def _music_labels(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    lead = str(rng.choice(music.LEADS))
    insts = [lead, str(rng.choice(music.HARMONY)), str(rng.choice(music.BASSES)), "drums"]
    return {"kind": "music", "instruments": list(dict.fromkeys(insts)), "parts": {"lead": lead},
            "mode": str(rng.choice(["major", "minor"])), "tempo_bpm": int(rng.integers(60, 170)), "key": "C",
            "notes_per_beat": 1.0}


@pytest.fixture(scope="module")
def training_text() -> str:
    out = []
    for seed in range(N_LABELS):
        for labels in (_sfx_labels(seed), _music_labels(seed)):
            for k in range(10):
                rng = np.random.default_rng([seed, k])
                out.append(describe(labels, rng, TRAIN))
                if labels["kind"] == "sfx":
                    out.append(captions.sfx_caption(labels, rng, 10.0))
                else:
                    out.append(captions.music_caption(labels, rng))
    return "\n".join(out).lower()


def _frames(shapes: tuple[str, ...]) -> list[str]:
    """The literal words of sentence frames ("Could I get {x}?" -> "could i get")."""
    return [p.strip(" ,.?:-").lower() for s in shapes for p in re.split(r"\{\w+\}", s) if len(p.strip(" ,.?:-")) > 3]


def test_heldout_phrases_never_in_training(training_text):
    phrases = [p for d in (HELDOUT.sfx_names, HELDOUT.sfx_clauses, HELDOUT.sfx_sounds, HELDOUT.instruments)
               for opts in d.values() for p in opts]
    phrases += [m for opts in HELDOUT.moods.values() for m in opts]
    phrases += _frames(HELDOUT.sfx_shapes + HELDOUT.music_shapes + HELDOUT.joins)
    leaked = [p for p in phrases if p.lower() in training_text]
    assert not leaked, f"held-out phrases found in training captions: {leaked}"
    assert len(phrases) > 120


def test_every_class_and_instrument_has_words():
    classes = {c.name for c in sfx.CLASSES}
    insts = set(music.INSTRUMENTS)
    for w in (TRAIN, HELDOUT):
        assert set(w.sfx_names) == classes and set(w.sfx_clauses) == classes
        assert set(w.instruments) == insts
        assert set(w.sfx_sounds) <= classes


def test_training_wording_is_varied(training_text):
    lines = training_text.splitlines()
    assert len(set(lines)) > 0.8 * len(lines)  # hardly any prompt repeats
    assert sum(ln == ln.lower() for ln in lines) > 0.2 * len(lines)  # people type in lower case too
    short = [ln for ln in lines if len(ln.split()) <= 3]
    long = [ln for ln in lines if len(ln.split()) >= 12]
    assert len(short) > 0.05 * len(lines) and len(long) > 0.05 * len(lines)


def test_prompt_names_its_sources_in_order():
    labels = _sfx_labels(3)
    assert len(labels["classes"]) >= 2  # seed 3 draws three classes
    labels["classes"] = labels["classes"][:2]
    labels["events"] = [{"class": labels["classes"][1]["class"], "t": 1.0, "dur": 0.2},
                        {"class": labels["classes"][0]["class"], "t": 5.0, "dur": 0.2}]
    firsts = [labels["classes"][1]["class"], labels["classes"][0]["class"]]
    for k in range(20):
        text = describe(labels, np.random.default_rng(k), HELDOUT).lower()
        pos = []
        for name in firsts:
            opts = HELDOUT.sfx_names[name] + HELDOUT.sfx_clauses[name] + HELDOUT.sfx_sounds.get(name, ())
            hits = [text.find(o.lower()) for o in opts if o.lower() in text]
            assert hits, (name, text)
            pos.append(min(hits))
        assert pos[0] < pos[1], text


def test_heldout_prompt_is_a_function_of_the_entry():
    labels = _music_labels(7)
    e = ManifestEntry(id="000123", split="test", kind="music", task="t2m", audio="a.wav", video=None, image=None,
                      caption="x", audio_prompt=None, sample_rate=16000, seconds=10.0, labels=labels)
    assert heldout_prompt(e) == heldout_prompt(e)
    other = ManifestEntry(**{**e.__dict__, "id": "000124"})
    prompts = {heldout_prompt(ManifestEntry(**{**e.__dict__, "id": f"{i:06d}"})) for i in range(100, 130)}
    assert len(prompts) > 10 and heldout_prompt(other) in prompts


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 97])
def test_derangement_moves_every_item(n):
    p = derangement(n, seed=n)
    assert sorted(p) == list(range(n))
    if n >= 2:
        assert all(p[i] != i for i in range(n))
