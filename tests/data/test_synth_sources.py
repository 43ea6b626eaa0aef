"""Sound sources carry what their labels say: pitch, onsets, beats, classes; missing packages give clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from audiox.data.synth import captions, music, procedural, sfx, sources
from audiox.errors import MediaError

RATE = 16000


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize("timbre", ["sine", "square", "bell"])
def test_tone_peak_matches_pitch(timbre):
    x = procedural.tone(523.25, 0.5, RATE, timbre=timbre)
    assert abs(_peak_hz(x, RATE) - 523.25) < 523.25 * 0.01


def test_beep_clip_fft_peak_matches_labelled_pitch():
    for seed in range(4):
        audio, labels = sfx.make_sfx(np.random.default_rng(seed), sample_rate=RATE, seconds=4.0, channels=1,
                                     classes=["beep"])
        pitch = labels["classes"][0]["pitch_hz"]
        ev = labels["events"][0]
        seg = audio[0, int(ev["t"] * RATE): int((ev["t"] + ev["dur"]) * RATE)]
        assert abs(_peak_hz(seg, RATE) - pitch) < max(5.0, pitch * 0.02), (seed, pitch)


def _onset_env(x: np.ndarray, rate: int, hop: float = 0.01, win: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """Spectral flux ``(times_s, flux)``; a frame's time is its centre."""
    h, w = int(hop * rate), int(win * rate)
    n = (len(x) - w) // h
    frames = np.stack([x[i * h:i * h + w] * np.hanning(w) for i in range(n)])
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(np.diff(mag, axis=0), 0).sum(axis=1)
    return np.arange(1, n) * hop + win / 2, flux


def _near(t: np.ndarray, f: np.ndarray, x: float, tol: float = 0.04) -> float:
    m = (t >= x - tol) & (t <= x + tol)
    return float(f[m].max())


def test_knocks_and_steps_start_at_labelled_times():
    for name in ("knocking", "footsteps"):
        audio, labels = sfx.make_sfx(np.random.default_rng(3), sample_rate=RATE, seconds=5.0, channels=1,
                                     classes=[name])
        t, f = _onset_env(audio[0], RATE)
        times = labels["event_times"]
        assert len(times) == labels["classes"][0]["count"] >= 2
        rate = labels["classes"][0]["rate_hz"]
        # times and rate are rounded to 3 decimals: two 0.5-ms roundings plus the rate's
        assert np.allclose(np.diff(times), 1 / rate, atol=2e-3)
        strong = np.median(f) * 5
        assert all(_near(t, f, x) > strong for x in times), name


def test_music_onsets_fall_on_labelled_beats():
    for seed in range(6):
        audio, labels = music.make_music(np.random.default_rng(seed), sample_rate=RATE, seconds=4.0, channels=1)
        assert 60 <= labels["tempo_bpm"] <= 180 and labels["mode"] in ("major", "minor")
        period = 60 / labels["tempo_bpm"]
        # beat times are rounded to 0.1 ms and the MIDI tempo to whole microseconds per beat
        assert np.allclose(np.diff(labels["beat_times"]), period, atol=1e-3)
        t, f = _onset_env(audio[0], RATE)
        beats = [b for b in labels["beat_times"] if 0.05 < b and b + period / 2 < 3.95]
        on = np.mean([_near(t, f, b) for b in beats])
        off = np.mean([_near(t, f, b + period / 2) for b in beats])
        assert on > 1.1 * off, (seed, labels["instruments"], on, off)


def test_music_covers_eight_instruments_including_drums():
    seen: set[str] = set()
    for seed in range(40):
        _, labels = music.compose(np.random.default_rng(seed), 4.0)
        seen |= set(labels["instruments"])
    assert "drums" in seen and len(seen) >= 9


def test_sfx_has_twelve_classes_from_every_origin():
    assert len(sfx.CLASSES) >= 12
    assert {c.origin for c in sfx.CLASSES} == {"freedesktop", "arcade", "espeak-ng", "procedural"}
    assert set(captions.SFX_WORDS) == set(sfx.CLASS_NAMES)
    for cls in sfx.CLASSES:
        for f in cls.files:
            rec = sources.load_recording(f, RATE)
            assert rec.ndim == 1 and rec.size > 100 and np.isclose(np.abs(rec).max(), 1.0)  # peak-normalised (float64)


def test_every_class_renders_with_events():
    for i, name in enumerate(sfx.CLASS_NAMES):
        audio, labels = sfx.make_sfx(np.random.default_rng(i), sample_rate=RATE, seconds=3.0, channels=2,
                                     classes=[name])
        assert audio.shape == (2, 3 * RATE) and np.isfinite(audio).all() and np.abs(audio).max() > 0.3
        assert labels["events"] and all(e["class"] == name for e in labels["events"])
        assert all(0 <= e["t"] < 3.0 for e in labels["events"])
        caption = captions.sfx_caption(labels, np.random.default_rng(i), 3.0)
        assert caption.endswith(".") and len(caption) > 5


def test_captions_vary():
    _, labels = music.make_music(np.random.default_rng(0), sample_rate=RATE, seconds=2.0, channels=1)
    texts = {captions.music_caption(labels, np.random.default_rng(s)) for s in range(30)}
    assert len(texts) >= 10


def test_missing_program_names_the_debian_package(monkeypatch):
    real_which = sources.shutil.which
    monkeypatch.setattr(sources.shutil, "which", lambda name: None if name == "fluidsynth" else real_which(name))
    with pytest.raises(MediaError, match=r"install the Debian package 'fluidsynth' \(apt-get install fluidsynth\)"):
        sources.check_all()
    monkeypatch.setattr(sources.shutil, "which", lambda name: None if name == "espeak-ng" else real_which(name))
    with pytest.raises(MediaError, match="apt-get install espeak-ng"):
        sources.check_all()
    sources.speak.cache_clear()
    with pytest.raises(MediaError, match="apt-get install espeak-ng"):
        sfx.make_sfx(np.random.default_rng(0), sample_rate=RATE, seconds=2.0, channels=1, classes=["speech"])


def test_missing_soundfont_and_arcade_name_their_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "SOUNDFONT_CANDIDATES", (tmp_path / "none.sf2",))
    with pytest.raises(MediaError, match="fluidr3mono-gm-soundfont"):
        sources.soundfont_path()
    monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
    sources.arcade_sounds_dir.cache_clear()
    try:
        with pytest.raises(MediaError, match="pip install --no-deps arcade"):
            sources.arcade_sounds_dir()
    finally:
        sources.arcade_sounds_dir.cache_clear()
    monkeypatch.setattr(sources, "FREEDESKTOP_DIR", tmp_path)
    with pytest.raises(MediaError, match="sound-theme-freedesktop"):
        sources.freedesktop_file("bell.oga")


def test_every_class_and_instrument_has_a_unique_look():
    from audiox.data.synth import video

    assert set(video.SFX_LOOK) == set(sfx.CLASS_NAMES)
    assert len(set(video.SFX_LOOK.values())) == len(video.SFX_LOOK)
    assert set(music.INSTRUMENTS) | {"drums"} == set(video.INSTRUMENT_LOOK)
    assert len(set(video.INSTRUMENT_LOOK.values())) == len(video.INSTRUMENT_LOOK)
    for shape in video.SHAPES:
        assert video._mask(shape, 8).sum() > 20
