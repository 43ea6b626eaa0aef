"""Captions from ground-truth labels: templates with synonyms, adjectives, counts, order and time words.

Video-only and image-only tasks use the official prompts (:data:`V2A_PROMPT`, :data:`V2M_PROMPT`); the
descriptive caption is then kept in ``labels["description"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

V2A_PROMPT = "Generate general audio for the video"
V2M_PROMPT = "Generate music for the video"

# class -> (noun phrases, verb phrases); the verb phrase follows the noun ("a bell" + "rings")
SFX_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bell": (("a bell", "a small bell", "a desk bell", "a service bell"), ("rings", "dings", "chimes")),
    "chime": (("a notification chime", "an electronic chime", "a soft chime", "an alert tone"),
              ("sounds", "plays", "chimes")),
    "camera_shutter": (("a camera shutter", "a camera", "a shutter"), ("clicks", "snaps", "fires")),
    "phone_ring": (("a telephone", "a phone", "a ringing phone"), ("rings", "trills", "buzzes")),
    "alarm_clock": (("an alarm clock", "an alarm", "a wake-up alarm"), ("goes off", "rings", "beeps")),
    "paper_crumple": (("paper", "a sheet of paper", "a paper bag"), ("is crumpled", "rustles", "is scrunched up")),
    "laser": (("a laser gun", "a sci-fi blaster", "a laser"), ("fires", "zaps", "shoots")),
    "explosion": (("an explosion", "a blast", "a bomb"), ("booms", "goes off", "explodes")),
    "coin": (("a coin", "a video-game coin", "a pickup sound"), ("jingles", "is collected", "plings")),
    "jump": (("a cartoon jump", "a springy jump", "a game character"), ("boings", "bounces", "jumps")),
    "impact": (("a hit", "a punch", "an impact", "a thud"), ("lands", "thumps", "strikes")),
    "power_up": (("a power-up", "an arcade power-up", "a level-up sound"), ("rises", "sparkles", "plays")),
    "speech": (("a voice", "a speaker", "someone"), ("speaks", "talks", "says a word")),
    "beep": (("a beep", "an electronic tone", "a tone"), ("beeps", "sounds", "pings")),
    "footsteps": (("footsteps", "someone walking", "steps"), ("pass by", "approach", "sound")),
    "knocking": (("someone", "a visitor", "a person"), ("knocks on a door", "knocks on wood", "raps on a door")),
    "siren": (("a siren", "an emergency siren", "a police siren", "an ambulance siren"), ("wails", "blares", "sounds")),
    "rain": (("rain", "heavy rain", "a rain shower", "rainfall"), ("falls", "pours", "patters")),
    "wind": (("wind", "a strong wind", "gusty wind", "the wind"), ("blows", "howls", "whistles")),
    "engine": (("an engine", "a motor", "an idling engine", "a car engine"), ("hums", "rumbles", "idles")),
}
COUNTS = {1: ("once", "one time"), 2: ("twice", "two times"), 3: ("three times", "thrice"), 4: ("four times",),
          5: ("five times",), 6: ("six times",), 7: ("seven times",), 8: ("eight times",)}
TIME_WORDS = {"start": ("at the start", "at the beginning", "early on", "right away"),
              "middle": ("in the middle", "midway through", "halfway through"),
              "end": ("near the end", "towards the end", "at the end", "late in the clip")}
THEN = ("then", "after that", "followed by", "and later", "next")
BACKGROUND = {"hiss": ("with a faint hiss in the background", "over a soft noise floor"),
              "room": ("in a quiet room", "over a low room tone"),
              "hum": ("with a low electrical hum", "over a faint mains hum")}
MOODS = {("major", "fast"): ("happy", "cheerful", "upbeat", "bright", "joyful"),
         ("major", "slow"): ("warm", "calm", "gentle", "peaceful", "tender"),
         ("minor", "fast"): ("tense", "urgent", "dramatic", "driving", "dark"),
         ("minor", "slow"): ("sad", "melancholic", "somber", "wistful", "gloomy")}
TEMPO_WORDS = {"slow": ("slow", "unhurried", "laid-back"), "medium": ("mid-tempo", "moderate", "steady"),
               "fast": ("fast", "lively", "energetic", "brisk")}
DENSITY_WORDS = {0.5: ("sparse", "spacious"), 1.0: ("simple", "plain"), 2.0: ("flowing", "busy"),
                 4.0: ("dense", "rapid", "virtuosic")}
PIECE = ("piece", "tune", "track", "song", "melody", "composition")


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _when(t: float, seconds: float) -> str:
    return "start" if t < seconds * 0.25 else ("middle" if t < seconds * 0.65 else "end")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _clause(rng: np.random.Generator, cls: dict[str, Any], first_t: float, seconds: float) -> str:
    """One class as a clause: ``"a small bell dings twice near the end"``."""
    name = cls["class"]
    nouns, verbs = SFX_WORDS[name]
    noun, verb = _pick(rng, nouns), _pick(rng, verbs)
    if name == "speech":
        who = "a woman" if "+f" in cls["voice"] else _pick(rng, ("a man", "a voice", "someone"))
        verb = f'says "{cls["word"]}"'
        noun = who
    if name == "beep" and rng.random() < 0.5:
        noun = _pick(rng, (f"a {int(round(cls['pitch_hz']))} Hz beep",
                           "a high-pitched beep" if cls["pitch_hz"] > 600 else "a low-pitched beep"))
    if name == "footsteps" and rng.random() < 0.6:
        noun = f"footsteps on {'a wooden floor' if cls['surface'] == 'wood' else cls['surface']}"
    plain = noun.startswith("a ") and len(noun.split()) == 2  # "a bell", not "a small bell"
    if plain and cls["gain_db"] > -3 and rng.random() < 0.5:
        noun = "a loud " + noun[2:]
    elif plain and cls["gain_db"] < -7 and rng.random() < 0.5:
        noun = "a quiet " + noun[2:]
    parts = [noun, verb]
    count = cls.get("count", 1)
    if name in ("footsteps", "knocking"):
        speed = "quickly" if cls["rate_hz"] > (2.2 if name == "footsteps" else 4.5) else "slowly"
        parts.append(speed if rng.random() < 0.5 or count not in COUNTS else _pick(rng, COUNTS[count]))
    elif name not in ("siren", "rain", "wind", "engine") and count in COUNTS and (count > 1 or rng.random() < 0.3):
        parts.append(_pick(rng, COUNTS[count]))
    if rng.random() < 0.7:
        parts.append(_pick(rng, TIME_WORDS[_when(first_t, seconds)]))
    return " ".join(parts)


def sfx_caption(labels: dict[str, Any], rng: np.random.Generator, seconds: float) -> str:
    """Describe a sound-effect clip in the order its sources first sound.

    Args:
        labels: labels from :func:`audiox.data.synth.sfx.make_sfx`.
        rng: random generator.
        seconds: clip length in s.
    """
    first = {c["class"]: min(e["t"] for e in labels["events"] if e["class"] == c["class"]) for c in labels["classes"]}
    classes = sorted(labels["classes"], key=lambda c: first[c["class"]])
    clauses = [_clause(rng, c, first[c["class"]], seconds) for c in classes]
    style = int(rng.integers(3))
    if style == 0 or len(clauses) == 1:
        text = clauses[0]
        for c in clauses[1:]:
            text += f", {_pick(rng, THEN)} {c}" if rng.random() < 0.7 else f" while {c}"
    elif style == 1:
        nouns = [_pick(rng, SFX_WORDS[c["class"]][0]) for c in classes]
        text = _pick(rng, ("the sound of ", "sounds of ", "a recording of ", "")) + _join(nouns)
    else:
        text = "; ".join(clauses)
    bg = labels["background"]["style"]
    if bg != "none" and rng.random() < 0.6:
        text += " " + _pick(rng, BACKGROUND[bg])
    return text[0].upper() + text[1:] + "."


def tempo_class(bpm: float) -> str:
    """``"slow"`` (< 90 BPM), ``"medium"`` (< 125) or ``"fast"``."""
    return "slow" if bpm < 90 else ("medium" if bpm < 125 else "fast")


def music_caption(labels: dict[str, Any], rng: np.random.Generator) -> str:
    """Describe a music clip: mood, tempo, key, instruments, density.

    Args:
        labels: labels from :func:`audiox.data.synth.music.make_music`.
        rng: random generator.
    """
    bpm, mode = labels["tempo_bpm"], labels["mode"]
    speed = tempo_class(bpm)
    mood = _pick(rng, MOODS[(mode, "fast" if speed == "fast" else "slow")])
    tempo_word = _pick(rng, TEMPO_WORDS[speed])
    insts = list(labels["instruments"])
    order = rng.permutation(len(insts))
    inst_text = _join([insts[i] for i in order])
    lead = labels["parts"]["lead"]
    others = [insts[i] for i in order if insts[i] != lead]
    key = f"{labels['key']} {mode}"
    piece = _pick(rng, PIECE)
    density = _pick(rng, DENSITY_WORDS[labels["notes_per_beat"]])
    style = int(rng.integers(5))
    if style == 0:
        text = f"a {mood} {tempo_word} {piece} in {key} with {inst_text} at {bpm} BPM"
    elif style == 1:
        text = f"{inst_text} playing a {density}, {mood} {piece}, {tempo_word}, around {bpm} beats per minute"
    elif style == 2:
        text = f"generate music with {lead} instrument"
    elif style == 3:
        text = f"{mood} music in a {mode} key featuring {inst_text}"
    else:
        text = (f"a {tempo_word} {piece} in {key}: {density} {lead} accompanied by {_join(others)}" if others
                else f"a {tempo_word}, {density} solo {lead} {piece} in {key}")
    text = " ".join(text.split())
    return text[0].upper() + text[1:] + "."
