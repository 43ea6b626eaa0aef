"""Validation of user-given values: numbers, text, seeds, devices, input files and folders, output locations.

Every check raises :class:`InputError` (or :class:`MediaError` for a missing input file) with one line that
names the argument, the value and what is expected. Nothing here creates, opens for writing or changes a file:
checks run before any model loads or any work starts, so a refused call leaves the file system as it was.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from audiox.errors import InputError, MediaError
from audiox.utils.seeds import SEED_MAX

MAX_THREADS = 4096
# what a number given as text may look like: ASCII digits, no '_' separators, no spaces (nan/inf are read so
# that the range checks can name them)
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)


def shown(value: Any) -> str:
    """``value`` as text for a one-line message: control characters (newline, tab, escape, ...), line separators
    and undecodable bytes are written as escapes (``\\n``, ``\\x1b``, ``\\udcff``), so a file name cannot split
    or recolour the line.

    Args:
        value: a path or any text.
    """
    s = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if isinstance(s, bytes):
        s = os.fsdecode(s)
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") else c for c in s)


def parse_number(name: str, value: str) -> float:
    """A number given as text (``2.5``, ``1e-3``, ``nan``): refuses ``1_0``, spaces and non-ASCII digits, which
    Python's ``float()`` would read.

    Args:
        name: the flag or key in the message (``""``: none, for argparse, which names the flag itself).
    """
    if not isinstance(value, str) or not _FLOAT_TEXT.fullmatch(value):
        raise InputError(_named(name, f"expected a number such as 2.5, got {value!r}{_underscore(value)}"))
    return float(value)


def parse_integer(name: str, value: str) -> int:
    """An integer given as text (``42``, ``-1``): refuses ``1_0``, ``1.0``, spaces and non-ASCII digits.

    Args:
        name: the flag or key in the message (``""``: none, for argparse, which names the flag itself).
    """
    if not isinstance(value, str) or not _INT_TEXT.fullmatch(value):
        raise InputError(_named(name, f"expected an integer such as 42, got {value!r}{_underscore(value)}"))
    return int(value)


def _named(name: str, message: str) -> str:
    return f"{name}: {message}" if name else message


def _underscore(value: Any) -> str:
    return " ('_' digit separators are not accepted)" if isinstance(value, str) and "_" in value else ""


def number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> float:
    """A finite real number in ``[lo, hi]`` (open ends with ``lo_open`` / ``hi_open``); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}: expected a number, got {value!r}")
    v = float(value) if not isinstance(value, int) or abs(value) < 2**1023 else math.inf
    if not math.isfinite(v):
        raise InputError(f"{name}: must be a finite number, got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise InputError(f"{name}: must be {'>' if lo_open else '>='} {lo:g}, got {value!r}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise InputError(f"{name}: must be {'<' if hi_open else '<='} {hi:g}, got {value!r}")
    return v


def integer(name: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in ``[lo, hi]``; floats (even 3.0), bools and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}: expected an integer, got {value!r}")
    if lo is not None and value < lo:
        raise InputError(f"{name}: must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise InputError(f"{name}: must be <= {hi}, got {value}")
    return value


def seed(name: str, value: Any) -> int:
    """A generation seed, 0 .. :data:`audiox.utils.seeds.SEED_MAX` (2**64 - 1)."""
    return integer(name, value, lo=0, hi=SEED_MAX)


def text(name: str, value: Any) -> str:
    """A string that is valid Unicode text (no lone surrogates from undecodable bytes, no NUL)."""
    if not isinstance(value, str):
        raise InputError(f"{name}: expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{name}: not valid UTF-8 text") from None
    if "\x00" in value:
        raise InputError(f"{name}: contains a NUL character")
    return value


def threads(value: Any, name: str = "--threads") -> int | None:
    """A CPU thread count (>= 1) or None for torch's default."""
    if value is None:
        return None
    return integer(name, value, lo=1, hi=MAX_THREADS)


def device(value: str | None, name: str = "--device") -> str | None:
    """A torch device string that exists on this machine (``cpu``, ``cuda``, ``cuda:1``, ``mps``) or None."""
    if value is None:
        return None
    import torch

    text(name, value)
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise InputError(f"{name}: unknown device {value!r}; expected cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{name}: {value!r} requested but this torch build or machine has no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"{name}: {value!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InputError(f"{name}: 'mps' requested but it is not available on this machine")
    elif dev.type != "cpu":
        raise InputError(f"{name}: unsupported device {value!r}; expected cpu, cuda, cuda:N or mps")
    return value


def path_arg(name: str, value: Any) -> str:
    """A path argument: valid text, not empty (``""`` would silently mean the current folder)."""
    s = text(name, os.fspath(value))
    if not s.strip():
        raise InputError(f"{name}: empty path")
    return s


def input_file(name: str, path: Any) -> Path:
    """An existing, readable regular file; ``name/`` (a trailing slash) is refused, it names a folder."""
    s = path_arg(name, path)
    p = Path(s)
    if not p.exists():
        raise MediaError(f"{p}: {name} file not found")
    if p.is_dir():
        raise MediaError(f"{p}: {name} is a folder, not a file")
    if s.endswith(("/", os.sep)):
        raise MediaError(f"{s}: {name} is a file, not a folder (remove the trailing '/')")
    if not p.is_file():
        raise MediaError(f"{p}: {name} is not a regular file")
    if not os.access(p, os.R_OK):
        raise MediaError(f"{p}: {name} file is not readable (permission denied)")
    return p


def input_folder(name: str, path: Any) -> Path:
    """An existing, readable folder."""
    p = Path(path_arg(name, path))
    if not p.exists():
        raise MediaError(f"{p}: {name} folder not found")
    if not p.is_dir():
        raise MediaError(f"{p}: {name} is a file, not a folder")
    if not os.access(p, os.R_OK | os.X_OK):
        raise MediaError(f"{p}: {name} folder is not readable (permission denied)")
    return p


def same_place(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (after resolving links; missing paths by name)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python 3.11)
        return False


def output_file(name: str, path: Any, *, suffixes: Iterable[str] | None = None,
                inputs: Iterable[Path | str | None] = (), create_folder: bool = False,
                files: Mapping[str, Path | None] | None = None, folders: Mapping[str, Path | None] | None = None,
                ) -> Path:
    """A file that can be written: its folder exists and is writable, it is not a folder, not one of ``inputs``.

    Its name (and the temporary names written beside it, :func:`audiox.utils.files.longest_temp_name`) must fit
    the file system, and it must not be a symbolic link loop or end in ``/``.

    Args:
        suffixes: allowed lower-case suffixes (e.g. ``(".wav", ".flac")``).
        inputs: input paths that must not be overwritten.
        create_folder: a missing folder is fine when it can be created (the caller creates it after all checks).
        files: ``{flag: file}`` of other files it must not be (e.g. ``{"--batch": jobs.jsonl}``).
        folders: ``{flag: folder}`` of folders it must not be inside (e.g. the model folder in use).
    """
    raw = text(name, os.fspath(path))
    no_trailing_separator(name, raw, "a file name")
    p = Path(raw)
    if suffixes is not None:
        allowed = tuple(suffixes)
        if p.suffix.lower() not in allowed:
            raise InputError(f"{name} {p}: must end in {' or '.join(allowed)}")
    _name_fits(name, p)
    _resolves(name, p)
    if p.is_dir():
        raise InputError(f"{name} {p}: is a folder")
    if p.exists() and not p.is_file():
        raise InputError(f"{name} {p}: exists and is not a regular file")
    parent = p.parent
    if create_folder and not parent.exists():
        output_folder(name, parent)
    else:
        _writable_folder(name, p, parent)
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{name} {p}: the existing file is not writable (permission denied)")
    for src in inputs:
        if src is not None and same_place(Path(src), p):
            raise InputError(f"{name} {p}: is also an input file; it would be overwritten")
    for flag, other in (files or {}).items():
        if other is not None and same_place(Path(other), p):
            raise InputError(f"{name} {p}: is also the {flag} file; it would be overwritten")
    for flag, folder in (folders or {}).items():
        if folder is not None and is_inside(p, Path(folder)):
            raise InputError(f"{name} {p}: is inside the {flag} folder {folder}; outputs never go into it")
    return p


def no_trailing_separator(name: str, value: str, what: str) -> None:
    """Refuse ``out.wav/``: a trailing separator names a folder, where ``what`` (e.g. "a file name") is expected."""
    if value.endswith("/") or value.endswith(os.sep) or (os.altsep is not None and value.endswith(os.altsep)):
        raise InputError(f"{name} {value}: ends in '/', which names a folder; give {what} (remove the '/')")


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (existing or not) is ``folder`` or lies under it, after resolving links."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:  # a name too long for the file system, ...
        return False


def _resolves(name: str, p: Path) -> None:
    """Refuse a path whose links cannot be followed (a loop) before anything stats it."""
    import errno

    try:
        p.resolve()
    except RuntimeError:  # Python 3.11's "Symlink loop"
        raise InputError(f"{name} {p}: is a symbolic link loop") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(f"{name} {p}: is a symbolic link loop") from None
        raise InputError(f"{name} {p}: cannot be used ({e.strerror or e})") from None


def _name_fits(name: str, p: Path) -> None:
    """The file's name, its temporary names, the folders still to be created and the full path must fit the file
    system of the nearest existing folder (``PC_NAME_MAX`` / ``PC_PATH_MAX``)."""
    from audiox.utils.files import longest_temp_name

    folder = next((a for a in p.absolute().parents if _exists(a)), Path("/"))
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in p.absolute().relative_to(folder).parts[:-1]:
        if len(os.fsencode(part)) > name_max:
            raise InputError(f"{name} {p}: a folder name is too long for this file system "
                             f"({len(os.fsencode(part))} bytes; at most {name_max})")
    longest = longest_temp_name(p.name)
    size = len(os.fsencode(longest))
    if size > name_max:
        extra = size - len(os.fsencode(p.name))
        raise InputError(f"{name} {p}: the name is too long for this file system ({len(os.fsencode(p.name))} "
                         f"bytes; at most {max(0, name_max - extra)}, as temporary names add {extra})")
    full = len(os.fsencode(str(p.parent.absolute() / longest)))
    if path_max and full >= path_max:
        raise InputError(f"{name} {p}: the path is too long for this file system ({full} bytes with the "
                         f"temporary name; at most {path_max - 1})")


def _writable_folder(name: str, target: Path, folder: Path) -> None:
    if not folder.exists():
        above = next((a for a in folder.parents if a.exists()), None)
        if above is not None and not above.is_dir():
            raise InputError(f"{name} {target}: {above} is a file, not a folder")
        raise InputError(f"{name} {target}: folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{name} {target}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or _read_only_mount(folder):
        raise InputError(f"{name} {target}: folder {folder} is not writable")
    if _full(folder):
        raise InputError(f"{name} {target}: folder {folder} cannot take a new file: its file system is full")


def _full(folder: Path) -> bool:
    """No free block or no free file entry for this user (file systems that report no totals are not judged)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    root = os.geteuid() == 0  # root may use the reserved blocks
    blocks, files = (st.f_bfree, st.f_ffree) if root else (st.f_bavail, st.f_favail)
    return (st.f_blocks > 0 and blocks == 0) or (st.f_files > 0 and files == 0)


def output_folder(name: str, path: Any, *, inputs: Mapping[str, Path | None] | None = None) -> Path:
    """A folder that exists and is writable, or can be created (its nearest existing ancestor is a writable folder).

    Nothing is created here; call ``mkdir(parents=True, exist_ok=True)`` once every check has passed.

    Args:
        inputs: ``{flag: folder}`` of input folders the output must not be (None entries are skipped).
    """
    p = Path(path_arg(name, path))
    _resolves(name, p)
    if p.exists():
        if not p.is_dir():
            raise InputError(f"{name} {p}: is a file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK) or _read_only_mount(p):
            raise InputError(f"{name} {p}: folder is not writable")
        if _full(p):
            raise InputError(f"{name} {p}: the folder cannot take new files: its file system is full")
    else:
        above = next((a for a in p.absolute().parents if a.exists()), None)
        if above is None or not above.is_dir():
            raise InputError(f"{name} {p}: {above} is a file, not a folder")
        if not os.access(above, os.W_OK | os.X_OK) or _read_only_mount(above):
            raise InputError(f"{name} {p}: cannot create it, {above} is not writable")
        if _full(above):
            raise InputError(f"{name} {p}: cannot create it, the file system of {above} is full")
    for flag, folder in (inputs or {}).items():
        if folder is not None and same_place(p, Path(folder)):
            raise InputError(f"{name} {p}: is also the {flag} folder; choose another folder")
    return p


def _read_only_mount(folder: Path) -> bool:
    """True on a read-only file system (root's os.access says yes there, and on /proc and /sys)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    if st.f_flag & os.ST_RDONLY:
        return True
    resolved = str(folder.resolve())
    return resolved == "/proc" or resolved.startswith(("/proc/", "/sys/")) or resolved == "/sys"


def inside(name: str, path: Path, folder: Path) -> Path:
    """``path`` (relative to ``folder``) must stay inside ``folder``: no absolute paths, no ``..`` escapes."""
    if path.is_absolute():
        raise InputError(f"{name} {path}: must be a path relative to the output folder")
    try:
        full = (folder / path).resolve()
        full.relative_to(folder.resolve())
    except (RuntimeError, OSError):
        raise InputError(f"{name} {path}: is a symbolic link loop") from None
    except ValueError:
        raise InputError(f"{name} {path}: leaves the output folder {folder}") from None
    return folder / path
