"""Where the page listens: the ``--host``/``--port`` checks run before the model loads, and the page's URL.

An IPv6 address is given bare (``::1``) or bracketed (``[::1]``); it is bracketed in URLs
(``http://[::1]:7860/``) and for Gradio, which strips the brackets again before the server binds.
No Gradio and no torch here.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

from audiox.errors import InputError

GRADIO_PROBE_HOST = "127.0.0.1"  # Gradio tries to bind this address and the port before it starts, whatever the host


@dataclass(frozen=True)
class ListenAddress:
    """A checked address to serve on.

    Attributes:
        host: the address or name to bind (IPv6 without brackets).
        port: TCP port.
    """

    host: str
    port: int

    @property
    def url_host(self) -> str:
        """The host as a URL writes it: an IPv6 address in brackets (also what Gradio's ``server_name`` takes)."""
        return f"[{self.host}]" if _is_ipv6(self.host) else self.host

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:7860/`` or ``http://[::1]:7860/``."""
        return f"http://{self.url_host}:{self.port}/"


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def parse_host(host: str, name: str = "--host") -> str:
    """The address to bind: a name, an IPv4 address or an IPv6 address (brackets removed).

    Raises:
        InputError: one line naming ``name`` for an empty value, spaces, a URL or a port in the value, brackets
            around something that is not an IPv6 address, or an IPv6 scope (``%eth0``).
    """
    bad = InputError(f"{name}: expected an address such as 127.0.0.1, ::1 or localhost, got {host!r}")
    if not host.strip() or any(c.isspace() or not c.isprintable() for c in host) or "/" in host:
        raise bad
    bracketed = host.startswith("[") and host.endswith("]")
    bare = host[1:-1] if bracketed else host
    if "%" in bare:
        raise InputError(f"{name}: IPv6 scopes ({bare[bare.index('%'):]!r}) are not supported; give a global or "
                         "loopback address")
    if (bracketed or ":" in bare) and not _is_ipv6(bare):  # a colon is IPv6 or a port, which has its own flag
        raise bad
    return bare


def check_listen(host: str, port: int) -> ListenAddress:
    """Check that this machine can listen on ``host:port`` now, before the model loads.

    Args:
        host: ``--host`` as given (checked by :func:`parse_host`).
        port: ``--port``, already checked to be 1..65535.

    Raises:
        InputError: ``--host`` when the address does not resolve or is not one of this machine's; ``--port`` when
            the port is taken (on the address, or on 127.0.0.1, which Gradio probes before it starts).
    """
    addr = ListenAddress(parse_host(host), port)
    try:
        infos = socket.getaddrinfo(addr.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise InputError(f"--host {host}: not an address of this machine ({e})") from None
    _try_bind(infos[0], f"{addr.url_host}:{port}", host)
    if addr.host != GRADIO_PROBE_HOST:
        _try_bind(socket.getaddrinfo(GRADIO_PROBE_HOST, port, type=socket.SOCK_STREAM)[0],
                  f"{GRADIO_PROBE_HOST}:{port} (Gradio checks it before it starts)", host)
    return addr


def _try_bind(info: tuple, where: str, host: str) -> None:
    family, kind, proto, _, address = info
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise InputError(f"--host {host}: not an address of this machine ({e.strerror})") from None
            port = address[1]
            raise InputError(f"--port {port}: cannot listen on {where} ({e.strerror or e})") from None
