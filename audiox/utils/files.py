"""Atomic file writes: temporary files in the destination folder, then ``os.replace``.

Nothing partial is ever visible under a final name, an existing file is only replaced once the new one is
complete, and results get the usual permissions (0666 minus the umask), not mkstemp's 0600.

Temporary names follow one pattern, ``.NAME.PID.TAG.tmp.SUFFIX`` (``TAG``: 8 random hex digits, ``SUFFIX``: the
final name's, so ``.o.wav.4242.1a2b3c4d.tmp.wav``), and journals ``.NAME.PID.TAG.commit``. :func:`recover` uses
the process id to tell the leftovers of a killed process from the files of one still running, and touches only
names of exactly this pattern: a user's ``.notes.2023.final.tmp`` is not one.

:func:`write_together` writes a set of files (audio, sidecar, video) as one unit: all are written to temporary
files first, then each folder of the set gets a journal listing the renames in it, the renames run with
SIGINT/SIGTERM/SIGHUP held back, and the journals go. A journal names files by base name only, relative to its
own folder, so it can never move a file elsewhere, and a folder copied after a crash (``cp -a``) recovers
within itself. After a SIGKILL during the renames, :func:`recover` finishes them from the journal; after one
before, it removes the temporary files. Either way the folder then holds the old set or the new set, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import stat
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TAG_DIGITS = 8  # hex digits of the random tag
_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>[1-9][0-9]{0,9})\.(?P<tag>[0-9a-f]{" + str(TAG_DIGITS) + r"})\."
                   r"(?P<kind>tmp|commit)(?P<suffix>\.[^./]+)?")
JOURNAL_VERSION = 1
MAX_JOURNAL_BYTES = 1 << 16  # a journal lists a few renames; anything bigger is not one of ours


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_name(name: str, *, tag: str = "f" * TAG_DIGITS, kind: str = "tmp", pid: int | None = None) -> str:
    """The temporary (``kind="tmp"``) or journal (``kind="commit"``) name written beside a file called ``name``.

    Args:
        name: the final file's base name.
        tag: the random tag (the default has the real tag's length, for length checks).
        kind: ``"tmp"`` or ``"commit"``.
        pid: the writer's process id (default: this process).
    """
    end = f"tmp{Path(name).suffix}" if kind == "tmp" else "commit"
    return f".{name}.{os.getpid() if pid is None else pid}.{tag}.{end}"


def longest_temp_name(name: str) -> str:
    """The longest name this process writes beside a file called ``name`` (its temporary file or its journal)."""
    return max((temp_name(name, kind=k) for k in ("tmp", "commit")), key=lambda s: len(os.fsencode(s)))


def _match(name: str) -> re.Match[str] | None:
    """The pattern's match when ``name`` is exactly a temporary file or journal name this module writes."""
    m = _TEMP.fullmatch(name)
    if m is None:
        return None
    if (m["suffix"] or "") != (Path(m["name"]).suffix if m["kind"] == "tmp" else ""):
        return None  # the writer keeps the final suffix: '.a.wav.1.0123abcd.tmp.flac' is not its name
    return m


def _own_temp(p: Path) -> bool:
    """``p`` is an existing temporary file (not a journal) that this process created."""
    m = _match(p.name)
    return m is not None and m["kind"] == "tmp" and int(m["pid"]) == os.getpid() and _regular(p)


def _create(final: Path, kind: str) -> Path:
    """Create an empty file named :func:`temp_name` beside ``final``, with a fresh random tag."""
    for _ in range(100):
        p = final.parent / temp_name(final.name, tag=secrets.token_hex(TAG_DIGITS // 2), kind=kind)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return p
    raise FileExistsError(f"{final.parent}: no free temporary name for {final.name}")


def temp_path(path: str | os.PathLike) -> Path:
    """Create an empty temporary file beside ``path`` (same folder, pid-tagged name, final suffix kept)."""
    return _create(Path(path), "tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], *, parents: bool = False) -> Path:
    """Call ``write(tmp_path)`` (the temp name keeps the final suffix), then move it over ``path``.

    On any exception the temporary file is removed and the exception re-raised. A ``path`` that is itself a
    temporary file of this process (one :func:`write_together` hands to a writer) is written in place: it is
    not visible under a final name yet, and a temporary name beside it would be longer than the file system
    may allow.

    Args:
        path: the final file.
        write: writes the whole file to the temporary path it is given.
        parents: create the missing folders above ``path`` first (otherwise the folder must exist).

    Returns:
        ``path``.
    """
    p = Path(path)
    if _own_temp(p):  # already a private temporary file of this process (write_together's): write it in place
        write(str(p))
        return p
    if parents:
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(p)
    try:
        write(str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM/SIGHUP (delivered on exit) in the main thread; elsewhere do nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_together(writes: list[tuple[str | os.PathLike, Callable[[str], None]]]) -> list[Path]:
    """Write several files as one unit: each ``write(tmp)`` first, then all renames (see the module doc).

    Args:
        writes: (final path, function writing a given temporary path) pairs; folders must exist.

    Returns:
        The final paths.
    """
    done: list[tuple[Path, Path]] = []
    journals: list[Path] = []
    renaming = False
    try:
        for path, write in writes:
            tmp = temp_path(path)
            done.append((tmp, Path(path)))
            write(str(tmp))
            os.chmod(tmp, 0o666 & ~_umask())
        by_folder: dict[Path, list[tuple[Path, Path]]] = {}
        for tmp, final in done:
            by_folder.setdefault(tmp.parent, []).append((tmp, final))
        for pairs in by_folder.values():  # every journal is on disk before the first rename
            text = json.dumps({"journal": JOURNAL_VERSION, "renames": [[t.name, f.name] for t, f in pairs]})
            _write_journal(pairs[0][1], text, journals)
        with signals_held():
            renaming = True
            for tmp, final in done:
                os.replace(tmp, final)
            for journal in journals:
                journal.unlink()
    except BaseException:
        if renaming:  # some files are renamed already: finish the set rather than leave a mix
            for tmp, final in done:
                with contextlib.suppress(OSError):
                    if tmp.exists():
                        os.replace(tmp, final)
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        for journal in journals:
            journal.unlink(missing_ok=True)
        raise
    return [final for _, final in done]


def _write_journal(first: Path, text: str, journals: list[Path]) -> None:
    """Reserve a journal name beside ``first`` (added to ``journals``), then move the complete text in.

    A journal is empty (its writing never finished: nothing was renamed yet) or complete, never partial.
    """
    journal = _create(first, "commit")
    journals.append(journal)
    tmp = temp_path(first)
    try:
        _write_synced(tmp, text)
        os.replace(tmp, journal)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _regular(p: Path) -> bool:
    """A regular file itself, not a link to one."""
    try:
        return stat.S_ISREG(os.lstat(p).st_mode)
    except OSError:
        return False


def _base_name(name: object) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\x00" not in name
            and os.sep not in name and (os.altsep is None or os.altsep not in name))


def read_journal(path: Path) -> list[tuple[str, str]]:
    """The renames of a journal this module wrote, as (temporary, final) base names in its folder.

    Raises:
        ValueError: the file is not such a journal; the message says why.
    """
    m = _match(path.name)
    if m is None or m["kind"] != "commit":
        raise ValueError("not a journal name")
    if not _regular(path):
        raise ValueError("not a regular file")
    if path.stat().st_size > MAX_JOURNAL_BYTES:
        raise ValueError("too large")

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("duplicate key")
        return dict(pairs)

    try:
        data = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, RecursionError):
        raise ValueError("not UTF-8 JSON") from None
    except ValueError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(data, dict) or set(data) != {"journal", "renames"} or data["journal"] != JOURNAL_VERSION:
        raise ValueError(f"not a version-{JOURNAL_VERSION} journal")
    renames = data["renames"]
    if not isinstance(renames, list) or not renames:
        raise ValueError("no renames")
    out: list[tuple[str, str]] = []
    for pair in renames:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_base_name(n) for n in pair)):
            raise ValueError("names a file outside its folder")
        tmp, final = pair
        t = _match(tmp)
        if t is None or t["kind"] != "tmp" or t["name"] != final or t["pid"] != m["pid"] or _match(final):
            raise ValueError(f"{tmp!r} is not a temporary file of this writer for {final!r}")
        out.append((tmp, final))
    if out[0][1] != m["name"]:
        raise ValueError("its name does not match its first file")
    return out


def recover(folder: str | os.PathLike, names: Collection[str] | None = None) -> int:
    """Finish or undo the writes of killed processes in ``folder``; returns how many files were touched.

    Journals of dead writers are rolled forward (their temporary files were complete), then every temporary
    file of a dead writer is removed (an empty journal is one whose writing never finished). Files of running
    processes (and of this one) are left alone, and so is anything not exactly of this module's name pattern.
    A journal that is not well formed, or that names anything but this writer's temporary files in its own
    folder, is left alone with one warning line, and so are that writer's temporary files.

    Args:
        folder: the folder to clean up (a missing one is fine).
        names: only the leftovers of writes to these final base names (a journal counts by its set's first
            file); None: all. Processes that share a folder but never the same files (ranks on other machines,
            whose process ids mean nothing here) then never touch each other's writes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    touched = 0
    entries = [(p, _match(p.name)) for p in folder.iterdir()]
    if names is not None:
        entries = [(p, m) for p, m in entries if m is not None and m["name"] in names]
    stale = [(p, m) for p, m in entries if m is not None and not _alive(int(m["pid"]))]
    foreign: list[str] = []
    kept_pids: set[str] = set()
    for p, m in stale:
        if m["kind"] != "commit":
            continue
        if _regular(p) and p.stat().st_size == 0:  # reserved, never completed: no rename had started
            p.unlink()
            touched += 1
            continue
        try:
            pairs = read_journal(p)
        except (OSError, ValueError) as e:
            foreign.append(f"{p.name} ({e})")
            kept_pids.add(m["pid"])
            continue
        for tmp, final in pairs:
            if _regular(folder / tmp):
                os.replace(folder / tmp, folder / final)
                touched += 1
        p.unlink(missing_ok=True)
        touched += 1
    for p, m in stale:
        if m["kind"] != "commit" and m["pid"] not in kept_pids and _regular(p):
            p.unlink(missing_ok=True)
            touched += 1
    if foreign:
        from audiox.utils.checks import shown

        log.warning("%s: left alone %d journal(s) this program did not write: %s", shown(folder), len(foreign),
                    shown("; ".join(foreign)))
    return touched


def file_sha256(*paths: str | os.PathLike) -> str:
    """Hex SHA-256 over the bytes of ``paths``, in order, read in 1 MiB blocks."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
