"""Locate and decode the packaged assets the corpus is made of; a missing one is a one-line error naming its package.

Sources (see ``docs/corpus.md`` for the licences):

- Debian ``sound-theme-freedesktop``: recorded desktop sounds (``/usr/share/sounds/freedesktop/stereo/*.oga``);
- the ``arcade`` wheel (``pip install --no-deps arcade``): Kenney's CC0 game sound effects;
- Debian ``espeak-ng``: synthetic speech;
- Debian ``fluidsynth`` + ``fluidr3mono-gm-soundfont`` (or ``fluid-soundfont-gm``): General MIDI rendering.

Decoded clips are cached per process; they depend only on the file and the sample rate, so caching never changes
the output.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiox.errors import MediaError

log = logging.getLogger(__name__)

FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3Mono_GM.sf2"),
)

# source name -> (where it comes from, licence summary); copied into meta.json and docs/corpus.md.
LICENCES: dict[str, tuple[str, str]] = {
    "freedesktop": (
        "Debian package sound-theme-freedesktop 0.8 (/usr/share/doc/sound-theme-freedesktop/copyright)",
        "per file: CC-BY-SA-3.0 (alarm-clock-elapsed, camera-shutter, screen-capture, message, dialog-information, "
        "device-*, power-*, network-*), CC-BY-3.0 (bell, complete, trash-empty; Dr. Richard Boulanger et al), "
        "GPL-2+ (phone-*, message-new-instant; Damien Sandras)",
    ),
    "arcade": (
        "arcade wheel, arcade/resources/assets/sounds (Kenney.nl subset; License.txt beside the files)",
        "CC0-1.0",
    ),
    "espeak-ng": ("Debian package espeak-ng (speech synthesised at build time)", "GPL-3+ (program and voice data)"),
    "fluidr3": (
        "Debian package fluidr3mono-gm-soundfont (FluidR3Mono_GM.sf3) rendered by fluidsynth",
        "MIT (soundfont, Frank Wen); fluidsynth LGPL-2.1+",
    ),
    "procedural": ("numpy code in audiox/data/synth/procedural.py", "MIT (this project)"),
}


def require_program(name: str, apt_package: str) -> str:
    """Return the path of an executable or raise :class:`MediaError` naming the Debian package that provides it.

    Args:
        name: executable name, e.g. ``"fluidsynth"``.
        apt_package: the Debian package to install.
    """
    path = shutil.which(name)
    if path is None:
        raise MediaError(
            f"'{name}' not found: install the Debian package '{apt_package}' (apt-get install {apt_package})"
        )
    return path


def soundfont_path() -> Path:
    """The General MIDI soundfont: FluidR3 Mono (sf3) first, then the full FluidR3 GM (sf2)."""
    for cand in SOUNDFONT_CANDIDATES:
        if cand.is_file():
            return cand
    raise MediaError(
        "no FluidR3 General MIDI soundfont found: install the Debian package 'fluidr3mono-gm-soundfont' "
        "(apt-get install fluidr3mono-gm-soundfont)"
    )


def freedesktop_file(name: str) -> Path:
    """Path of one ``sound-theme-freedesktop`` sound, e.g. ``"bell.oga"``.

    Args:
        name: file name inside ``/usr/share/sounds/freedesktop/stereo``.
    """
    path = FREEDESKTOP_DIR / name
    if not path.is_file():
        raise MediaError(
            f"{path}: not found: install the Debian package 'sound-theme-freedesktop' "
            "(apt-get install sound-theme-freedesktop)"
        )
    return path


@functools.lru_cache(maxsize=1)
def arcade_sounds_dir() -> Path:
    """Folder of the CC0 sound effects shipped in the ``arcade`` wheel (found without importing arcade)."""
    spec = importlib.util.find_spec("arcade")
    if spec is None or not spec.submodule_search_locations:
        raise MediaError("Python package 'arcade' not found: install it with 'pip install --no-deps arcade'")
    folder = Path(list(spec.submodule_search_locations)[0]) / "resources" / "assets" / "sounds"
    if not folder.is_dir():
        raise MediaError(f"{folder}: arcade sound assets missing: reinstall with 'pip install --no-deps arcade'")
    return folder


def arcade_file(name: str) -> Path:
    """Path of one arcade sound effect, e.g. ``"laser1.wav"``.

    Args:
        name: file name inside ``arcade/resources/assets/sounds``.
    """
    path = arcade_sounds_dir() / name
    if not path.is_file():
        raise MediaError(f"{path}: not found: install 'arcade' with 'pip install --no-deps arcade'")
    return path


def resolve(source: str) -> Path:
    """Resolve ``"freedesktop:bell.oga"`` or ``"arcade:laser1.wav"`` to a file path.

    Args:
        source: ``"<origin>:<file name>"``.
    """
    origin, _, name = source.partition(":")
    if origin == "freedesktop":
        return freedesktop_file(name)
    if origin == "arcade":
        return arcade_file(name)
    raise MediaError(f"unknown recording source {source!r}; expected 'freedesktop:...' or 'arcade:...'")


def _to_mono_rate(data: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """``(T, C)`` float -> mono float32 ``(T',)`` at ``sample_rate``, peak-normalised to 1."""
    mono = data.mean(axis=1) if data.ndim == 2 else data
    mono = np.asarray(mono, dtype=np.float32)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak <= 0:
        raise MediaError("decoded clip is silent")
    return mono / peak


@functools.lru_cache(maxsize=256)
def load_recording(source: str, sample_rate: int) -> np.ndarray:
    """Decode a recorded sound to mono float32, resampled and peak-normalised (cached per process).

    Args:
        source: ``"<origin>:<file name>"`` (see :func:`resolve`).
        sample_rate: output rate in Hz.

    Returns:
        ``(T,)`` float32 in [-1, 1]; read-only.
    """
    path = resolve(source)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise MediaError(f"{path}: cannot decode ({e})") from None
    out = _to_mono_rate(data, rate, sample_rate)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=512)
def speak(text: str, voice: str, speed_wpm: int, pitch: int, sample_rate: int) -> np.ndarray:
    """Synthesise speech with ``espeak-ng`` (cached per process).

    Args:
        text: words to say.
        voice: espeak-ng voice, e.g. ``"en-us"``, ``"en-gb+f3"``.
        speed_wpm: speaking rate in words per minute.
        pitch: espeak-ng pitch, 0-99.
        sample_rate: output rate in Hz.

    Returns:
        ``(T,)`` float32, peak-normalised; read-only.
    """
    exe = require_program("espeak-ng", "espeak-ng")
    cmd = [exe, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "--stdout", text]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(f"espeak-ng failed for voice {voice!r}: {err[-1] if err else 'no output'}")
    data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    out = _to_mono_rate(data, rate, sample_rate)
    out.setflags(write=False)
    return out


def check_all() -> dict[str, str]:
    """Check every external asset up front; returns ``{name: path}`` for ``meta.json``.

    Raises:
        MediaError: naming the Debian or pip package that is missing.
    """
    return {
        "fluidsynth": require_program("fluidsynth", "fluidsynth"),
        "espeak-ng": require_program("espeak-ng", "espeak-ng"),
        "soundfont": str(soundfont_path()),
        "freedesktop": str(freedesktop_file("bell.oga").parent),
        "arcade": str(arcade_sounds_dir()),
    }
