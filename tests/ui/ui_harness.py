"""A real ``audiox ui`` server for the tests: a subprocess on a free 127.0.0.1 port with the built-in model.

Its temporary folder is made under a folder of the test (``TMPDIR``), so the tests can look inside it and check
that it is gone when the server stops. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0  # model load + Gradio import on a busy 2-core machine
STOP_TIMEOUT_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` (IPv4 or IPv6) and on 127.0.0.1 (which Gradio probes whatever the host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def memory_kib(pid: int) -> dict[str, int]:
    """``VmHWM`` (peak resident memory) and ``VmRSS`` of a process, in KiB, from ``/proc/PID/status``."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


class Server:
    """``audiox ui`` in a subprocess; ``url`` once started; ``stop()`` ends it with SIGTERM (like Ctrl-C).

    Args:
        host: the address it listens on (``::1`` for IPv6).
    """

    def __init__(self, tmp: Path, *args: str, host: str = "127.0.0.1") -> None:
        self.tmp = tmp
        self.port = free_port(host)
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"
        self.log = tmp / "server.log"
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2",
               "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
        cmd = [sys.executable, "-m", "audiox", "ui", "--host", host, "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait_up()

    def _wait_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"audiox ui exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"audiox ui did not answer within {START_TIMEOUT_S:g} s:\n{self.log.read_text()}")

    @property
    def temp_dir(self) -> Path:
        """The server's temporary folder (uploads and results)."""
        found = sorted(self.tmp.glob("audiox-ui-*"))
        if len(found) != 1:
            raise AssertionError(f"expected one server temp folder in {self.tmp}, found {found}")
        return found[0]

    def files(self) -> list[Path]:
        """Every file in the server's temporary folder."""
        return sorted(p for p in self.temp_dir.rglob("*") if p.is_file())

    def memory(self) -> dict[str, int]:
        return memory_kib(self.proc.pid)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)
        return self.proc.returncode
