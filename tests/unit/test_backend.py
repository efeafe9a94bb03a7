import argparse

import pytest

from lbapp.backend.app import _int_arg, status_line
from lbapp.backend.main import build_parser, parse_listen
from lbapp.backend.stats import BackendStats


def test_parse_listen():
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_listen("[::]:8080") == ("::", 8080)
    for bad in ("8080", "host:", "host:99999"):
        with pytest.raises(argparse.ArgumentTypeError, match="host:port"):
            parse_listen(bad)


def test_listen_repeats():
    args = build_parser().parse_args(["--name", "be1", "--listen", "127.0.0.1:1",
                                      "--listen", "127.0.0.1:2"])
    assert args.listen == [("127.0.0.1", 1), ("127.0.0.1", 2)]


def test_int_arg_clamps_and_defaults():
    assert _int_arg(b"ms=250", b"ms", 0, 0, 1000) == 250
    assert _int_arg(b"ms=99999", b"ms", 0, 0, 1000) == 1000
    assert _int_arg(b"ms=abc", b"ms", 7, 0, 1000) == 7
    assert _int_arg(b"", b"code", 200, 200, 599) == 200


def test_status_line():
    assert status_line(503) == b"HTTP/1.1 503 Service Unavailable\r\n"
    assert status_line(299) == b"HTTP/1.1 299 Status\r\n"


def test_stats_exposition():
    stats = BackendStats("be1", ("/",))
    stats.count("/", 200)
    stats.count("/", 200)
    body, ctype = stats.render()
    assert b'lbapp_backend_requests_total{backend="be1",code="200",route="/"} 2.0' in body
    assert ctype.startswith("text/plain")
