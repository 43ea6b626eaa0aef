"""Music clips: procedural General-MIDI pieces (mido) rendered by ``fluidsynth`` with the FluidR3 soundfont.

A piece has a tempo (60-180 BPM), a key and mode (major/minor), a four-chord progression, and 1-3 melodic parts
(lead, harmony, bass) plus optional drums. Every beat carries a note onset (harmony or lead), so the labelled
``beat_times`` are audible.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audiox.data.synth import sources
from audiox.errors import MediaError

log = logging.getLogger(__name__)

# instrument name -> General MIDI program (0-based)
INSTRUMENTS: dict[str, int] = {
    "piano": 0, "electric piano": 4, "marimba": 12, "organ": 19, "acoustic guitar": 24, "electric guitar": 27,
    "bass": 33, "violin": 40, "cello": 42, "harp": 46, "strings": 48, "trumpet": 56, "saxophone": 65,
    "clarinet": 71, "flute": 73,
}
LEADS = ("piano", "electric piano", "marimba", "organ", "acoustic guitar", "electric guitar", "violin", "trumpet",
         "saxophone", "clarinet", "flute", "harp")
HARMONY = ("piano", "electric piano", "organ", "acoustic guitar", "strings", "harp", "marimba")
BASSES = ("bass", "cello")
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = {
    "major": (("I", "V", "vi", "IV"), ("I", "IV", "V", "I"), ("I", "vi", "IV", "V"), ("ii", "V", "I", "I")),
    "minor": (("i", "VI", "III", "VII"), ("i", "iv", "v", "i"), ("i", "VII", "VI", "VII"), ("i", "iv", "VII", "III")),
}
_ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
DRUM_CHANNEL = 9
TICKS = 480


def _triad(root: int, scale: tuple[int, ...], degree: int, octave: int) -> list[int]:
    """MIDI notes of the diatonic triad on ``degree`` (0-based) of the key."""
    out = []
    for step in (0, 2, 4):
        d = degree + step
        out.append(12 * (octave + 1) + root + scale[d % 7] + 12 * (d // 7))
    return out


def compose(rng: np.random.Generator, seconds: float) -> tuple[list[tuple[int, int, int, int, int]], dict[str, Any]]:
    """Draw a piece: notes ``(start_tick, end_tick, channel, note, velocity)`` and its labels (no audio).

    Args:
        rng: random generator.
        seconds: length of the piece in s.
    """
    bpm = int(rng.integers(60, 181))
    tempo_us = int(round(60e6 / bpm))
    beat_s = tempo_us / 1e6
    n_beats = int(np.ceil(seconds / beat_s))
    root, mode = int(rng.integers(12)), str(rng.choice(("major", "minor")))
    scale = SCALES[mode]
    prog = PROGRESSIONS[mode][int(rng.integers(4))]
    ensemble = int(rng.choice([1, 2, 3], p=[0.3, 0.3, 0.4]))
    lead = str(rng.choice(LEADS))
    parts = {"lead": lead}
    if ensemble >= 2:
        parts["harmony"] = str(rng.choice([h for h in HARMONY if h != lead]))
    if ensemble == 3:
        parts["bass"] = str(rng.choice(BASSES))
    drums = bool(rng.random() < 0.6)
    density = float(rng.choice([1.0, 2.0, 4.0] if ensemble == 1 else [0.5, 1.0, 2.0, 4.0]))
    channel = {role: i for i, role in enumerate(parts)}
    notes: list[tuple[int, int, int, int, int]] = []
    degree_now = 0
    for b in range(n_beats):
        bar_pos, t0 = b % 4, b * TICKS
        chord_deg = _ROMAN[prog[(b // 4) % 4].lower()]
        accent = 12 if bar_pos == 0 else 0
        if "harmony" in parts:
            for note in _triad(root, scale, chord_deg, 4):
                notes.append((t0, t0 + TICKS - 20, channel["harmony"], note, 62 + accent))
        if "bass" in parts and bar_pos in (0, 2):
            bnote = _triad(root, scale, chord_deg, 2)[0]
            notes.append((t0, t0 + 2 * TICKS - 30, channel["bass"], bnote, 80 + accent))
        if drums:
            kit = [(42, 60)] + ([(36, 100)] if bar_pos in (0, 2) else [(38, 90)])
            if b % 16 == 0:
                kit.append((49, 90))
            for note, vel in kit:
                notes.append((t0, t0 + TICKS // 4, DRUM_CHANNEL, note, vel))
            if density >= 2:
                notes.append((t0 + TICKS // 2, t0 + 3 * TICKS // 4, DRUM_CHANNEL, 42, 50))
        # lead: on every beat when it is alone or dense enough, else every other beat
        if density < 1 and b % 2:
            continue
        sub = max(1, int(density))
        length = TICKS * 2 if density < 1 else TICKS // sub
        for s in range(sub):
            if s == 0:  # strong position: a chord tone near the current degree
                tones = [chord_deg + k for k in (0, 2, 4, 7)]
                degree_now = min(tones, key=lambda d: abs(d - degree_now) + rng.random())
            else:
                degree_now = int(np.clip(degree_now + rng.choice([-2, -1, 1, 2]), -3, 10))
            oct_, d = divmod(degree_now, 7)
            note = 12 * (5 + oct_) + root + scale[d]
            if ensemble == 1 and s == 0:  # a solo instrument also plays the chord's root below
                notes.append((t0, t0 + TICKS - 20, channel["lead"], _triad(root, scale, chord_deg, 3)[0], 70))
            start = t0 + s * length
            beat_accent = 8 if s == 0 else -14  # the beat is louder than its subdivisions
            vel = 78 + accent + beat_accent + int(rng.integers(-6, 7))
            notes.append((start, start + length - 10, channel["lead"], note, vel))
    beat_times = [round(b * beat_s, 4) for b in range(n_beats) if b * beat_s < seconds]
    labels = {
        "tempo_bpm": bpm,
        "tempo_us_per_beat": tempo_us,
        "key": NOTE_NAMES[root],
        "mode": mode,
        "progression": list(prog),
        "instruments": sorted(set(parts.values()) | ({"drums"} if drums else set())),
        "parts": {**parts, **({"drums": "standard kit"} if drums else {})},
        "programs": {role: INSTRUMENTS[name] for role, name in parts.items()},
        "drums": drums,
        "notes_per_beat": density,
        "beat_times": beat_times,
        "downbeat_times": beat_times[::4],
        "channels": channel,
    }
    return notes, labels


def write_midi(path: Path, notes: list[tuple[int, int, int, int, int]], labels: dict[str, Any]) -> None:
    """Write a type-1 MIDI file for the composed notes.

    Args:
        path: output ``.mid``.
        notes: ``(start_tick, end_tick, channel, note, velocity)``.
        labels: from :func:`compose` (tempo and programs).
    """
    import mido

    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=labels["tempo_us_per_beat"], time=0))
    for role, program in labels["programs"].items():
        track.append(mido.Message("program_change", channel=labels["channels"][role], program=program, time=0))
    msgs = []
    for start, end, ch, note, vel in notes:
        msgs.append((start, 1, ch, note, int(np.clip(vel, 1, 127))))
        msgs.append((end, 0, ch, note, 0))  # note-offs sort before note-ons at the same tick
    msgs.sort()
    now = 0
    for tick, on, ch, note, vel in msgs:
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, channel=ch, note=note, velocity=vel, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=TICKS))
    mid.save(str(path))


def render(midi_path: Path, wav_path: Path, sample_rate: int) -> np.ndarray:
    """Render a MIDI file with fluidsynth (single-threaded, float output) and return ``(2, T)`` float32.

    Args:
        midi_path: input ``.mid``.
        wav_path: scratch output ``.wav``.
        sample_rate: Hz.
    """
    exe = sources.require_program("fluidsynth", "fluidsynth")
    sf2 = sources.soundfont_path()
    cmd = [exe, "-ni", "-q", "-o", "synth.dynamic-sample-loading=1", "-o", "synth.cpu-cores=1", "-g", "0.5",
           "-O", "float", "-T", "wav", "-r", str(sample_rate), "-F", str(wav_path), str(sf2), str(midi_path)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not wav_path.is_file():
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(f"fluidsynth failed: {err[-1] if err else 'no output'}")
    data, _ = sf.read(str(wav_path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T)


def make_music(rng: np.random.Generator, *, sample_rate: int, seconds: float, channels: int
               ) -> tuple[np.ndarray, dict[str, Any]]:
    """Compose and render one music clip and its ground truth.

    Args:
        rng: random generator (the only source of randomness).
        sample_rate: Hz.
        seconds: clip length in s.
        channels: 1 or 2.

    Returns:
        ``(audio (channels, T) float32 peak <= 1, labels)`` with ``tempo_bpm``, ``key``, ``mode``, ``instruments``,
        ``beat_times`` (s), ``notes_per_beat``, ``sources``.
    """
    notes, labels = compose(rng, seconds)
    n = int(round(seconds * sample_rate))
    with tempfile.TemporaryDirectory(prefix="audiox-synth-") as tmp:
        mid = Path(tmp) / "piece.mid"
        write_midi(mid, notes, labels)
        audio = render(mid, Path(tmp) / "piece.wav", sample_rate)
    out = np.zeros((2, n), dtype=np.float32)
    m = min(n, audio.shape[1])
    out[: audio.shape[0], :m] = audio[:2, :m]
    if audio.shape[0] == 1:
        out[1] = out[0]
    if channels == 1:
        out = out.mean(axis=0, keepdims=True)
    fade = min(n, int(0.05 * sample_rate))
    out[:, n - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= 10 ** (float(rng.uniform(-6.0, -1.0)) / 20) / peak
    labels["sources"] = [f"fluidr3:{sources.soundfont_path().name}"]
    del labels["channels"]
    return out, labels
