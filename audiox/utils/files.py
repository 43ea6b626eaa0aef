"""Atomic file writes: temporary files in the destination folder, then ``os.replace``.

Nothing partial is ever visible under a final name, an existing file is only replaced once the new one is
complete, and results get the usual permissions (0666 minus the umask), not mkstemp's 0600.

Temporary names carry the writer's process id (``.NAME.PID.RANDOM.tmp.SUFFIX``), so :func:`recover` can tell
the leftovers of a killed process from the files of one still running. :func:`write_together` writes a set of
files (audio, sidecar, video) as one unit: all are written to temporary files first, then a journal lists the
renames, the renames run with SIGINT/SIGTERM/SIGHUP held back, and the journal goes. After a SIGKILL during
the renames, :func:`recover` finishes them from the journal; after one before, it removes the temporary files.
Either way the folder then holds the old set or the new set, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

_TEMP = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.(tmp(\.[A-Za-z0-9]+)?|commit)$")
_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_path(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """Create an empty temporary file beside ``path`` (same folder, pid-tagged name, final suffix kept)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.",
                               suffix=f".tmp{p.suffix}" if suffix is None else suffix, dir=p.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], *, parents: bool = False) -> Path:
    """Call ``write(tmp_path)`` (the temp name keeps the final suffix), then move it over ``path``.

    On any exception the temporary file is removed and the exception re-raised.

    Args:
        path: the final file.
        write: writes the whole file to the temporary path it is given.
        parents: create the missing folders above ``path`` first (otherwise the folder must exist).

    Returns:
        ``path``.
    """
    p = Path(path)
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
    journal: Path | None = None
    renaming = False
    try:
        for path, write in writes:
            tmp = temp_path(path)
            done.append((tmp, Path(path)))
            write(str(tmp))
            os.chmod(tmp, 0o666 & ~_umask())
        first = done[0][1]
        text = json.dumps([[str(t.resolve()), str(f.resolve())] for t, f in done])
        journal = temp_path(first, suffix=".commit")
        atomic_write(journal, lambda t: _write_synced(t, text))
        with signals_held():
            renaming = True
            for tmp, final in done:
                os.replace(tmp, final)
            journal.unlink()
    except BaseException:
        if renaming:  # some files are renamed already: finish the set rather than leave a mix
            for tmp, final in done:
                with contextlib.suppress(OSError):
                    if tmp.exists():
                        os.replace(tmp, final)
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        if journal is not None:
            journal.unlink(missing_ok=True)
        raise
    return [final for _, final in done]


def _write_synced(path: str, text: str) -> None:
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
    except PermissionError:
        return True
    return True


def recover(folder: str | os.PathLike) -> int:
    """Finish or undo the writes of killed processes in ``folder``; returns how many files were touched.

    Journals of dead writers are rolled forward (their temporary files were complete), then every temporary
    file of a dead writer is removed. Files of running processes (and of this one) are left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    touched = 0
    entries = [(p, _TEMP.match(p.name)) for p in folder.iterdir()]
    stale = [(p, m) for p, m in entries if m is not None and not _alive(int(m.group(1)))]
    for p, m in stale:
        if m.group(2) != "commit":
            continue
        try:
            pairs = json.loads(p.read_text(encoding="utf-8"))
            for tmp, final in pairs:
                if Path(tmp).is_file():
                    os.replace(tmp, final)
                    touched += 1
        except (OSError, ValueError, TypeError):
            pass  # an unreadable journal: its temporary files are removed below, the old set stays
        p.unlink(missing_ok=True)
        touched += 1
    for p, m in stale:
        if m.group(2) != "commit" and p.exists():
            p.unlink(missing_ok=True)
            touched += 1
    return touched
