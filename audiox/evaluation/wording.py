"""The held-out wording: prompts for SynthBench's entries in words the training captions never use.

It measures whether a model follows a prompt in anyone's words or only in its corpus's templates. Every phrase and
sentence frame here differs from the training wording (:data:`audiox.data.synth.wording.TRAIN` and the template
captions of :mod:`audiox.data.synth.captions`): other names for the sounds and instruments ("a fire truck going
past", "a fiddle"), other requests ("Could I get ...?"), other joins ("..., plus ..."). ``tests/data/test_wording.py``
generates thousands of training captions and checks that none contains a phrase or frame of this file.

A prompt is a pure function of the entry: its labels and an id-seeded generator, so every model sees the same text.
"""

from __future__ import annotations

import hashlib

import numpy as np

from audiox.data.manifest import ManifestEntry
from audiox.data.synth.wording import Wording, describe

HELDOUT = Wording(
    sfx_names={
        "bell": ("a shop door jingle bell", "a tinkling brass bell", "a bell tinkling"),
        "chime": ("a laptop notification ping", "a pleasant ding-dong alert", "an app notification"),
        "camera_shutter": ("someone snapping pictures", "a DSLR taking photographs", "pictures being taken"),
        "phone_ring": ("an incoming call", "a cellphone going off", "a landline ringing"),
        "alarm_clock": ("a bedside alarm", "my morning alarm", "a wind-up clock ringing"),
        "paper_crumple": ("someone balling up a receipt", "crinkling wrapping paper", "a crushed paper sheet"),
        "laser": ("ray guns in a space battle", "futuristic blasters", "a raygun"),
        "explosion": ("dynamite detonating", "a grenade blowing up", "a huge detonation"),
        "coin": ("grabbing gold in a platformer", "a retro game money pickup", "collecting treasure in a game"),
        "jump": ("a cartoon character hopping", "a spring hop", "a hop in a platformer"),
        "impact": ("a body slamming into the floor", "a fist hitting a punching bag", "a heavy smack"),
        "power_up": ("an arcade upgrade jingle", "leveling up in a video game", "a rising magical shimmer"),
        "speech": ("a human voice", "a guy saying one word", "a spoken syllable"),
        "beep": ("a microwave bleeping", "a short bleep from a machine", "a monitor pinging"),
        "footsteps": ("somebody strolling down a hallway", "shoes on a floor", "a person pacing"),
        "knocking": ("someone rapping at the front door", "tapping on a door", "a visitor at the door"),
        "siren": ("a fire truck going past", "a police car racing by", "an emergency vehicle"),
        "rain": ("a rainy day", "drizzle on the roof", "a downpour"),
        "wind": ("a windy night", "a breeze through the trees", "a gale outside"),
        "engine": ("a car idling in the driveway", "a truck motor running", "a lawnmower"),
    },
    sfx_clauses={
        "bell": ("the shop bell jingles",), "chime": ("my laptop pings",),
        "camera_shutter": ("a photographer shoots pictures",), "phone_ring": ("my cell is going off",),
        "alarm_clock": ("the bedside alarm wakes me up",), "paper_crumple": ("somebody crushes a sheet of paper",),
        "laser": ("spaceships shoot ray guns",), "explosion": ("a building gets blown up",),
        "coin": ("the hero grabs gold",), "jump": ("a cartoon hero hops",), "impact": ("a boxer smacks a bag",),
        "power_up": ("the hero gets an upgrade",), "speech": ("a guy utters a word",),
        "beep": ("the microwave bleeps",), "footsteps": ("somebody strolls past",),
        "knocking": ("somebody raps at the front door",), "siren": ("a fire truck goes past",),
        "rain": ("it drizzles on the roof",), "wind": ("a gale rattles outside",),
        "engine": ("a truck sits idling",),
    },
    sfx_sounds={"explosion": ("ka-blam",), "laser": ("pyew pyew",), "siren": ("woo woo woo",),
                "knocking": ("rat-a-tat",), "bell": ("tinkle tinkle",)},
    sfx_shapes=("Could I get {x}?", "Imagine {x}", "{x}, nothing else", "What I'd like: {x}",
                "Background audio of {x}", "A scene where we hear {x}", "Soundtrack needed: {x}",
                "Please produce {x}", "{x} -- that is the whole scene"),
    joins=("{a}, plus {b}", "{a} along with {b}", "first {a}, later on {b}"),
    instruments={
        "piano": ("a grand piano", "a baby grand"), "electric piano": ("a Rhodes", "a vintage Wurlitzer"),
        "marimba": ("wooden mallet percussion", "a wooden xylophone"), "organ": ("a church organ", "a Hammond"),
        "acoustic guitar": ("a strummed folk guitar", "a campfire guitar"),
        "electric guitar": ("an amplified rock guitar", "a Stratocaster"),
        "bass": ("a funky bassline", "a low-end bass part"), "violin": ("a fiddle", "a solo violin line"),
        "cello": ("a low bowed cello part", "a cello section"), "harp": ("a plucked harp", "an Irish harp"),
        "strings": ("a string orchestra", "an orchestral string section"),
        "trumpet": ("a brass horn", "a muted jazz trumpet"), "saxophone": ("a smoky tenor sax", "a soprano sax"),
        "clarinet": ("a woodwind reed", "a jazz clarinet"),
        "flute": ("a breathy woodwind flute", "a piccolo-like flute"),
    },
    moods={("major", "fast"): ("joyous", "sunny"), ("major", "slow"): ("serene", "soothing"),
           ("minor", "fast"): ("menacing", "suspenseful"), ("minor", "slow"): ("mournful", "heartbroken")},
    tempos={"slow": ("leisurely",), "medium": ("walking-pace",), "fast": ("up-tempo",)},
    music_shapes=("Compose something {mood} for {inst}", "Play me a {mood} number on {inst}",
                  "I'm looking for {tempo} {inst} music that feels {mood}",
                  "Could I get {inst}? Keep it {mood}", "Score with {inst}, {mood} vibe"),
)


def _rng(entry_id: str, salt: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{salt}:{entry_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def heldout_prompt(entry: ManifestEntry) -> str:
    """The held-out-wording prompt of an entry (the same for every run).

    Args:
        entry: a corpus entry whose ``labels`` hold its ground truth (``kind``, ``classes``/``events`` or
            ``instruments``/``parts``/``mode``/``tempo_bpm``).
    """
    return describe({"kind": entry.kind, **entry.labels}, _rng(entry.id, "heldout-wording"), HELDOUT)


def derangement(n: int, seed: int = 0) -> list[int]:
    """A permutation of ``range(n)`` that moves every index (identity for ``n < 2``): the shuffled-caption control.

    Args:
        n: number of items.
        seed: permutation seed.
    """
    if n < 2:
        return list(range(n))
    rng = np.random.default_rng(seed)
    shift = int(rng.integers(1, n))
    order = rng.permutation(n)
    out = [0] * n
    for k in range(n):  # a cyclic shift over a random order moves every item
        out[int(order[k])] = int(order[(k + shift) % n])
    return out
