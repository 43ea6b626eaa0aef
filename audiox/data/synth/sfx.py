"""Sound-effect clips: 20 classes from recordings, speech and procedural sources, mixed with ground-truth labels.

A clip holds 1-3 foreground classes. Event classes play ``count`` short events at random onsets (footsteps and
knocks play trains at a labelled ``rate_hz``); continuous classes (siren, rain, wind, engine) play one span. All
are mixed with a random gain and stereo position over a quiet background bed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audiox.data.synth import procedural, sources


@dataclass(frozen=True)
class SfxClass:
    """One sound-effect class.

    Args:
        name: class label.
        origin: ``"freedesktop"``, ``"arcade"``, ``"espeak-ng"`` or ``"procedural"``.
        files: recordings (``"<origin>:<file>"``) for recorded classes, else empty.
        continuous: plays one long span rather than short events.
    """

    name: str
    origin: str
    files: tuple[str, ...] = ()
    continuous: bool = False


def _fd(*names: str) -> tuple[str, ...]:
    return tuple(f"freedesktop:{n}.oga" for n in names)


def _ar(stem: str, idx: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"arcade:{stem}{i}.wav" for i in idx)


CLASSES: tuple[SfxClass, ...] = (
    SfxClass("bell", "freedesktop", _fd("bell", "complete")),
    SfxClass("chime", "freedesktop", _fd("message", "device-added", "power-plug", "network-connectivity-established",
                                         "service-login")),
    SfxClass("camera_shutter", "freedesktop", _fd("camera-shutter", "screen-capture")),
    SfxClass("phone_ring", "freedesktop", _fd("phone-incoming-call", "phone-outgoing-calling")),
    SfxClass("alarm_clock", "freedesktop", _fd("alarm-clock-elapsed")),
    SfxClass("paper_crumple", "freedesktop", _fd("trash-empty")),
    SfxClass("laser", "arcade", _ar("laser", (1, 2, 3, 4, 5))),
    SfxClass("explosion", "arcade", _ar("explosion", (1, 2))),
    SfxClass("coin", "arcade", _ar("coin", (1, 2, 3, 4, 5))),
    SfxClass("jump", "arcade", _ar("jump", (1, 2, 3, 4, 5))),
    SfxClass("impact", "arcade", _ar("hit", (1, 2, 3, 4, 5)) + ("arcade:rockHit2.wav",)),
    SfxClass("power_up", "arcade", _ar("upgrade", (1, 2, 3, 4, 5))),
    SfxClass("speech", "espeak-ng"),
    SfxClass("beep", "procedural"),
    SfxClass("footsteps", "procedural"),
    SfxClass("knocking", "procedural"),
    SfxClass("siren", "procedural", continuous=True),
    SfxClass("rain", "procedural", continuous=True),
    SfxClass("wind", "procedural", continuous=True),
    SfxClass("engine", "procedural", continuous=True),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
_BY_NAME = {c.name: c for c in CLASSES}

WORDS = ("hello", "yes", "no", "stop", "go", "left", "right", "up", "down", "one", "two", "three", "wow", "okay")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb+f2", "en-us+m3", "en+f4")
SURFACES = ("wood", "gravel", "concrete")
BACKGROUNDS = ("none", "hiss", "room", "hum")


def _place(rng: np.random.Generator, count: int, length: float, seconds: float, min_gap: float) -> list[float]:
    """``count`` sorted onsets in ``[0.2, seconds - length]`` at least ``min_gap`` apart (fewer if they do not fit)."""
    hi = max(0.25, seconds - length - 0.1)
    times: list[float] = []
    for _ in range(count * 20):
        if len(times) == count:
            break
        t = float(rng.uniform(0.2, hi))
        if all(abs(t - u) >= min_gap for u in times):
            times.append(t)
    return sorted(round(t, 3) for t in times)


def _class_events(cls: SfxClass, rng: np.random.Generator, sample_rate: int, seconds: float
                  ) -> tuple[list[tuple[float, np.ndarray]], dict[str, Any], list[dict[str, Any]]]:
    """Render one class: ``([(onset_s, mono audio)], class params, [event label])``."""
    params: dict[str, Any] = {}
    placed: list[tuple[float, np.ndarray]] = []
    if cls.continuous:
        dur = float(rng.uniform(min(3.0, seconds * 0.5), seconds * 0.9))
        onset = round(float(rng.uniform(0.0, seconds - dur)), 3)
        fn = {"siren": procedural.siren, "rain": procedural.rain, "wind": procedural.wind,
              "engine": procedural.engine}[cls.name]
        audio, params = fn(rng, dur, sample_rate)
        placed.append((onset, audio))
        event = {"class": cls.name, "t": onset, "dur": round(dur, 3), "source": f"procedural:{cls.name}"}
        return placed, params, [event]
    if cls.name in ("footsteps", "knocking"):
        rate = float(rng.uniform(1.5, 3.0) if cls.name == "footsteps" else rng.uniform(3.0, 6.0))
        steps = int(rng.integers(3, 9) if cls.name == "footsteps" else rng.integers(2, 6))
        surface = str(rng.choice(SURFACES))
        span = (steps - 1) / rate
        start = float(rng.uniform(0.2, max(0.25, seconds - span - 0.4)))
        times = [round(start + k / rate, 3) for k in range(steps) if start + k / rate < seconds - 0.2]
        params = {"rate_hz": round(rate, 3), "count": len(times)}
        if cls.name == "footsteps":
            params["surface"] = surface
        events = []
        for t in times:
            audio = procedural.footstep(rng, sample_rate, surface) if cls.name == "footsteps" else \
                procedural.knock(rng, sample_rate)
            placed.append((t, audio))
            events.append({"class": cls.name, "t": t, "dur": round(len(audio) / sample_rate, 3),
                           "source": f"procedural:{cls.name}"})
        return placed, params, events
    count = int(rng.integers(1, 6))
    if cls.name == "beep":
        pitch = round(float(440.0 * 2 ** (rng.integers(-12, 19) / 12)), 2)
        length = float(rng.uniform(0.12, 0.5))
        timbre = str(rng.choice(("sine", "square", "bell")))
        params = {"pitch_hz": pitch, "timbre": timbre}
        clips = [(procedural.tone(pitch, length, sample_rate, timbre=timbre), f"procedural:beep:{timbre}")] * count
    elif cls.name == "speech":
        word, voice = str(rng.choice(WORDS)), str(rng.choice(VOICES))
        speed, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 75))
        params = {"word": word, "voice": voice}
        clips = [(sources.speak(word, voice, speed, pitch, sample_rate), f"espeak-ng:{voice}:{word}")] * count
    else:
        picks = [str(cls.files[int(rng.integers(len(cls.files)))]) for _ in range(count)]
        clips = [(sources.load_recording(p, sample_rate), p) for p in picks]
    longest = max(len(a) for a, _ in clips) / sample_rate
    fit = max(1, int((seconds - 0.4) // (longest + 0.3)))  # long recordings (alarm: 6 s) play fewer times
    clips = clips[:fit]
    times = _place(rng, len(clips), min(longest, seconds * 0.3), seconds, min_gap=max(0.35, min(longest, 1.5)))
    params["count"] = len(times)
    events = []
    for t, (audio, src) in zip(times, clips):
        n_max = int((seconds - t) * sample_rate)
        placed.append((t, audio[:n_max]))
        events.append({"class": cls.name, "t": t, "dur": round(min(len(audio), n_max) / sample_rate, 3),
                       "source": src})
    return placed, params, events


def make_sfx(rng: np.random.Generator, *, sample_rate: int, seconds: float, channels: int,
             classes: list[str] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Generate one sound-effect clip and its ground truth.

    Args:
        rng: random generator (the only source of randomness).
        sample_rate: Hz.
        seconds: clip length in s.
        channels: 1 (mono) or 2 (stereo, each class panned).
        classes: force these foreground classes (default: 1-3 drawn at random).

    Returns:
        ``(audio (channels, T) float32 peak <= 1, labels)``; ``labels`` has ``classes`` (list of per-class dicts with
        ``class``, ``gain_db``, ``pan``, ``origin`` and the class parameters), ``events`` (sorted ``class``/``t``/
        ``dur``/``source``), ``event_times`` (sorted onsets in s), ``background``, ``sources``.
    """
    n = int(round(seconds * sample_rate))
    if classes is None:
        k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        classes = [CLASS_NAMES[i] for i in rng.choice(len(CLASSES), size=k, replace=False)]
    mix = np.zeros((channels, n), dtype=np.float64)
    class_labels: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for name in classes:
        cls = _BY_NAME[name]
        placed, params, evs = _class_events(cls, rng, sample_rate, seconds)
        gain_db = round(float(rng.uniform(-10.0, 0.0)), 2)
        pan = round(float(rng.uniform(-0.8, 0.8)), 3) if channels == 2 else 0.0
        gains = [np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)] if channels == 2 else [1.0]
        amp = 10 ** (gain_db / 20)
        for onset, audio in placed:
            i0 = int(round(onset * sample_rate))
            seg = audio[: max(0, n - i0)]
            for c in range(channels):
                mix[c, i0:i0 + len(seg)] += amp * gains[c] * seg
        class_labels.append({"class": name, "origin": cls.origin, "gain_db": gain_db, "pan": pan, **params})
        events.extend(evs)
    background = str(rng.choice(BACKGROUNDS))
    bg_db = round(float(rng.uniform(-42.0, -30.0)), 2)
    if background != "none":
        bed = procedural.room_tone(rng, seconds, sample_rate, background)[:n]
        mix[:, : len(bed)] += 10 ** (bg_db / 20) * bed
    peak = float(np.max(np.abs(mix)))
    target = 10 ** (float(rng.uniform(-6.0, -1.0)) / 20)
    if peak > 0:
        mix *= target / peak
    events.sort(key=lambda e: (e["t"], e["class"]))
    used = sorted({e["source"].split(":")[0] + ":" + e["source"].split(":")[1] for e in events})
    labels = {
        "classes": class_labels,
        "events": events,
        "event_times": sorted({e["t"] for e in events}),
        "background": {"style": background, "gain_db": bg_db if background != "none" else None},
        "sources": used,
    }
    return mix.astype(np.float32), labels
