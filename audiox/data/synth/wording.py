"""Prompts in many people's words: a wording engine and the vocabulary that training captions are drawn from.

A :class:`Wording` is a vocabulary (everyday names, action clauses and sound words for every sound-effect class;
names for every instrument; moods and tempo words) plus the sentence shapes that frame them. :func:`describe` turns
a clip's ground-truth labels into one prompt in that wording: short user prompts ("door knock"), sound words
("ding ding"), requests ("make a phone ringing sound"), plain sentences, long scene descriptions, lists of sources
in the order they first sound, with varied case and punctuation.

:data:`TRAIN` is the wording of the training captions (on top of the corpus's detailed template captions of
:mod:`audiox.data.synth.captions`). The held-out wording that measures generalisation lives in
:mod:`audiox.evaluation.wording`: other phrases and other sentence shapes, never produced here
(``tests/data/test_wording.py`` checks that no held-out phrase or frame occurs in training captions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audiox.data.synth.captions import _join, _pick, tempo_class


@dataclass(frozen=True)
class Wording:
    """A vocabulary and its sentence shapes.

    Args:
        sfx_names: class -> noun phrases ("a desk bell").
        sfx_clauses: class -> whole clauses ("a bell rings"), used as they are.
        sfx_sounds: class -> sound words ("ding ding"); may be empty for a class.
        sfx_shapes: frames of a sound-effect prompt; ``{x}`` is the joined sources.
        joins: frames joining two sources in time order; ``{a}`` then ``{b}``.
        instruments: instrument -> names ("acoustic piano").
        moods: (mode, "fast" | "slow") -> mood adjectives.
        tempos: tempo class ("slow" | "medium" | "fast") -> tempo words.
        music_shapes: frames of a music prompt with ``{inst}`` (the instruments), ``{mood}``, ``{tempo}``.
    """

    sfx_names: dict[str, tuple[str, ...]]
    sfx_clauses: dict[str, tuple[str, ...]]
    sfx_sounds: dict[str, tuple[str, ...]]
    sfx_shapes: tuple[str, ...]
    joins: tuple[str, ...]
    instruments: dict[str, tuple[str, ...]]
    moods: dict[tuple[str, str], tuple[str, ...]]
    tempos: dict[str, tuple[str, ...]]
    music_shapes: tuple[str, ...]


def _source(rng: np.random.Generator, w: Wording, name: str) -> str:
    """One sound-effect source as a name (half the time), a clause or a sound word."""
    sounds = w.sfx_sounds.get(name, ())
    r = rng.random()
    if r < 0.5 or (r >= 0.85 and not sounds):
        return _pick(rng, w.sfx_names[name])
    if r < 0.85:
        return _pick(rng, w.sfx_clauses[name])
    return _pick(rng, sounds)


def _styled(rng: np.random.Generator, text: str) -> str:
    """Vary case and end punctuation the way people type: lower case, capitalised, the odd all-caps prompt."""
    text = " ".join(text.split())
    r = rng.random()
    if r < 0.45:
        text = text[0].upper() + text[1:]
    elif r < 0.5:
        text = text.upper()
    end = rng.random()
    if text[-1] in ".!?":
        return text
    return text + ("." if end < 0.4 else ("!" if end < 0.45 else ""))


def describe_sfx(labels: dict[str, Any], rng: np.random.Generator, wording: Wording) -> str:
    """A prompt for a sound-effect clip: its sources in the order they first sound.

    Args:
        labels: labels from :func:`audiox.data.synth.sfx.make_sfx` (``classes``, ``events``).
        rng: random generator (the only source of randomness).
        wording: the vocabulary.
    """
    first = {c["class"]: min((e["t"] for e in labels["events"] if e["class"] == c["class"]), default=0.0)
             for c in labels["classes"]}
    names = sorted(first, key=lambda n: first[n])
    text = _source(rng, wording, names[0])
    for name in names[1:]:
        text = _pick(rng, wording.joins).format(a=text, b=_source(rng, wording, name))
    return _styled(rng, _pick(rng, wording.sfx_shapes).format(x=text))


def describe_music(labels: dict[str, Any], rng: np.random.Generator, wording: Wording) -> str:
    """A prompt for a music clip: its melodic instruments (the lead first, drums left out), a mood, a tempo.

    Args:
        labels: labels from :func:`audiox.data.synth.music.make_music` (``instruments``, ``parts``, ``mode``,
            ``tempo_bpm``).
        rng: random generator.
        wording: the vocabulary.
    """
    lead = labels["parts"]["lead"]
    others = [i for i in labels["instruments"] if i not in (lead, "drums")]
    keep = [lead] + [o for o in others if rng.random() < 0.5]
    names = [_pick(rng, wording.instruments[i]) for i in keep]
    inst = _join(names)
    speed = tempo_class(float(labels["tempo_bpm"]))
    mood = _pick(rng, wording.moods[(labels["mode"], "fast" if speed == "fast" else "slow")])
    shape = _pick(rng, wording.music_shapes)
    return _styled(rng, shape.format(inst=inst, mood=mood, tempo=_pick(rng, wording.tempos[speed])))


def describe(labels: dict[str, Any], rng: np.random.Generator, wording: Wording) -> str:
    """:func:`describe_sfx` or :func:`describe_music` by ``labels["kind"]``."""
    if labels["kind"] == "sfx":
        return describe_sfx(labels, rng, wording)
    return describe_music(labels, rng, wording)


# --------------------------------------------------------------------------------------------- training wording
TRAIN = Wording(
    sfx_names={
        "bell": ("bell", "a bell", "desk bell", "a hotel bell", "bicycle bell", "reception bell", "a handbell"),
        "chime": ("chime", "a chime", "notification sound", "an alert chime", "a message tone", "ui chime"),
        "camera_shutter": ("camera shutter", "a camera click", "shutter sound", "photo camera", "a camera"),
        "phone_ring": ("phone ringing", "a ringing telephone", "ringtone", "telephone ring", "a phone call"),
        "alarm_clock": ("alarm clock", "an alarm", "alarm going off", "a wake-up alarm", "alarm beeping"),
        "paper_crumple": ("crumpling paper", "paper rustling", "a paper bag", "scrunched paper", "paper crumple"),
        "laser": ("laser", "a laser gun", "sci-fi blaster", "laser shots", "a zapper", "laser beam"),
        "explosion": ("explosion", "a big explosion", "a blast", "a bomb going off", "boom", "explosions"),
        "coin": ("coin pickup", "a coin sound", "video game coin", "coins", "a collectible", "coin collect"),
        "jump": ("cartoon jump", "a jump sound", "game jump", "a springy bounce", "jumping"),
        "impact": ("impact", "a punch", "a hit", "a thud", "hits", "a heavy hit", "punches"),
        "power_up": ("power-up", "a power up sound", "level up", "an arcade power-up", "powerup"),
        "speech": ("speech", "a voice", "someone speaking", "a spoken word", "talking", "a man speaking"),
        "beep": ("beep", "a beep", "beeps", "an electronic beep", "a tone", "a sine beep"),
        "footsteps": ("footsteps", "walking", "steps", "someone walking", "feet walking"),
        "knocking": ("door knock", "knocking", "knock on the door", "knocks", "knocking on wood"),
        "siren": ("siren", "a siren", "police siren", "ambulance siren", "emergency siren"),
        "rain": ("rain", "rainfall", "heavy rain", "rain falling", "a rain shower"),
        "wind": ("wind", "strong wind", "howling wind", "windy weather", "gusts of wind"),
        "engine": ("engine", "an engine idling", "a motor", "car engine", "engine hum", "motor running"),
    },
    sfx_clauses={
        "bell": ("a bell rings", "a small bell dings", "someone rings a bell"),
        "chime": ("a chime sounds", "a notification chimes", "an alert plays"),
        "camera_shutter": ("a camera clicks", "a shutter snaps", "someone takes a photo"),
        "phone_ring": ("a phone rings", "the telephone is ringing", "a phone trills"),
        "alarm_clock": ("an alarm clock goes off", "the alarm rings", "an alarm beeps"),
        "paper_crumple": ("paper is crumpled", "someone crumples paper", "paper rustles"),
        "laser": ("a laser fires", "a blaster shoots", "lasers zap"),
        "explosion": ("something explodes", "a bomb goes off", "an explosion booms"),
        "coin": ("a coin is collected", "coins jingle", "a coin plings"),
        "jump": ("a character jumps", "something bounces", "a cartoon boing"),
        "impact": ("something hits hard", "a punch lands", "a thud"),
        "power_up": ("a power-up plays", "the player levels up", "a power-up sparkles"),
        "speech": ("a person speaks", "someone says a word", "a voice talks"),
        "beep": ("a device beeps", "a tone beeps", "a beep sounds"),
        "footsteps": ("someone walks by", "footsteps approach", "a person walks"),
        "knocking": ("someone knocks on a door", "a visitor knocks", "knocking on a door"),
        "siren": ("a siren wails", "a siren blares", "sirens sound"),
        "rain": ("rain pours down", "it is raining", "rain patters"),
        "wind": ("the wind blows", "wind howls", "the wind whistles"),
        "engine": ("an engine rumbles", "a motor hums", "an engine runs"),
    },
    sfx_sounds={
        "bell": ("ding", "ding-a-ling"), "chime": ("bling",), "camera_shutter": ("click click", "snap"),
        "phone_ring": ("ring ring", "brring"), "alarm_clock": ("beep beep beep", "riiing"),
        "paper_crumple": ("crinkle crinkle", "rustle"), "laser": ("pew pew", "zap zap"),
        "explosion": ("kaboom", "boom!"), "coin": ("pling", "ka-ching"), "jump": ("boing", "boing boing"),
        "impact": ("thwack", "bam", "thump"), "power_up": ("whoosh up", "bling bling"),
        "beep": ("beep", "bleep"), "footsteps": ("clip clop", "step step"), "knocking": ("knock knock", "tok tok"),
        "siren": ("wee-woo", "nee-naw"), "rain": ("pitter-patter",), "wind": ("whoosh", "wooo"),
        "engine": ("vroom", "brrrm"),
    },
    sfx_shapes=(
        "{x}", "{x}", "{x}", "{x} sound", "{x} sound effect", "sfx: {x}", "the sound of {x}", "sound of {x}",
        "{x} sounds", "I want to hear {x}", "make {x}", "give me {x}", "can you make {x} please", "{x}, please",
        "a recording of {x}", "audio of {x}", "a clip of {x}", "{x} in a quiet room", "{x} at night",
        "{x} outdoors", "in an office: {x}", "in a kitchen, {x}", "a short clip with {x}", "just {x}",
        "foley: {x}", "{x}, clean recording", "{x} with a little background noise",
    ),
    joins=("{a} and {b}", "{a}, {b}", "{a} then {b}", "{a}, then {b}", "{a} followed by {b}", "{a} while {b}",
           "{a}, after that {b}", "{a} + {b}", "{a} with {b}"),
    instruments={
        "piano": ("piano", "acoustic piano", "upright piano", "solo piano"),
        "electric piano": ("electric piano", "e-piano", "electric keys"),
        "marimba": ("marimba", "a marimba", "mallet marimba"),
        "organ": ("organ", "an organ", "electric organ"),
        "acoustic guitar": ("acoustic guitar", "guitar", "nylon guitar", "steel-string guitar"),
        "electric guitar": ("electric guitar", "clean electric guitar", "e-guitar"),
        "bass": ("bass", "bass guitar", "electric bass"),
        "violin": ("violin", "a violin", "violins"),
        "cello": ("cello", "a cello", "cellos"),
        "harp": ("harp", "a harp", "concert harp"),
        "strings": ("strings", "string ensemble", "string pads"),
        "trumpet": ("trumpet", "a trumpet", "trumpets"),
        "saxophone": ("saxophone", "a saxophone", "alto sax"),
        "clarinet": ("clarinet", "a clarinet", "clarinets"),
        "flute": ("flute", "a flute", "concert flute"),
    },
    moods={("major", "fast"): ("happy", "cheerful", "upbeat", "bright", "fun"),
           ("major", "slow"): ("calm", "warm", "gentle", "peaceful", "relaxing"),
           ("minor", "fast"): ("tense", "dark", "dramatic", "urgent", "intense"),
           ("minor", "slow"): ("sad", "melancholic", "somber", "moody", "lonely")},
    tempos={"slow": ("slow", "laid-back", "unhurried"), "medium": ("mid-tempo", "steady", "moderate"),
            "fast": ("fast", "energetic", "lively", "quick")},
    music_shapes=(
        "{inst}", "{inst} music", "{mood} {inst} music", "{inst} solo", "a {mood} song with {inst}",
        "{tempo} {inst}", "a {tempo}, {mood} melody on {inst}", "music with {inst}", "play {inst}",
        "{inst} playing a {mood} tune", "song: {inst}, {mood}, {tempo}", "{mood} music featuring {inst}",
        "instrumental with {inst}", "a {mood} piece for {inst}", "{inst} melody", "background music, {inst}",
        "I want {mood} {inst} music", "make a {tempo} track with {inst}", "{inst} only", "generate {inst} music",
    ),
)
