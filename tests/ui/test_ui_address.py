"""``audiox ui --host``: IPv6 addresses are served (bracketed in URLs, as Gradio needs), and a host that is not an
address of this machine, or not an address at all, is refused in one line before the model loads."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import httpx
import pytest
from ui_harness import Server, free_port

from audiox.errors import InputError
from audiox.ui.address import ListenAddress, check_listen, parse_host


@pytest.mark.parametrize("host, url_host", [
    ("::1", "[::1]"), ("[::1]", "[::1]"), ("::", "[::]"), ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"),
    ("localhost", "localhost"), ("2001:db8::7", "[2001:db8::7]"),
])
def test_ipv6_hosts_make_valid_urls(host, url_host):
    """``--host ::1`` used to reach Gradio as ``http://::1:7860/``, which httpx refuses (InvalidURL)."""
    addr = ListenAddress(parse_host(host), 7860)
    assert addr.url_host == url_host and addr.url == f"http://{url_host}:7860/"
    assert httpx.URL(addr.url).port == 7860  # what Gradio's start-up check parses


@pytest.mark.parametrize("host", ["127.0.0.1:80", "http://127.0.0.1", "[127.0.0.1]", "::g", "[::1", "a b", "1:2:3"])
def test_malformed_hosts_are_refused(host):
    with pytest.raises(InputError, match="^--host: expected an address such as 127.0.0.1, ::1 or localhost"):
        parse_host(host)


def test_ipv6_scopes_are_refused():
    with pytest.raises(InputError, match="^--host: IPv6 scopes"):
        parse_host("fe80::1%lo")


def test_check_listen_accepts_ipv6_loopback():
    port = free_port("::1")
    assert check_listen("::1", port) == ListenAddress("::1", port)
    assert check_listen("[::1]", port).url == f"http://[::1]:{port}/"


def test_a_port_taken_on_ipv6_is_refused():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(InputError, match=rf"^--port {port}: cannot listen on \[::1\]:{port}"):
            check_listen("::1", port)


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "cli"))
    from harness import assert_refused

    return assert_refused


@pytest.mark.parametrize("host, expect", [
    ("[::1]:7860", "--host: expected an address"),
    ("http://localhost", "--host: expected an address"),
    ("[10.0.0.1]", "--host: expected an address"),
    ("fe80::1%lo", "--host: IPv6 scopes"),
    ("192.0.2.1", "--host 192.0.2.1: not an address of this machine"),  # TEST-NET-1: never assigned here
    ("2001:db8::1", "--host 2001:db8::1: not an address of this machine"),  # documentation prefix
    ("no-such-host.invalid", "--host no-such-host.invalid: not an address of this machine"),
])
def test_bad_hosts_are_refused_in_one_line_before_the_model_loads(cli, tmp_path, host, expect):
    res = cli(["ui", "--host", host, "--port", str(free_port())], expect, tmp_path)
    assert res.stdout == ""  # the serving line comes after the model loads


def test_the_page_answers_on_ipv6_loopback(tmp_path):
    srv = Server(tmp_path, host="::1")
    try:
        assert srv.url.startswith("http://[::1]:")
        with urllib.request.urlopen(srv.url, timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read(4096).lower()
        assert f"on {srv.url} " in srv.log.read_text()
    finally:
        assert srv.stop() in (0, 143), srv.log.read_text()
