"""Abuse suite: hostile request bytes on raw sockets against a real LB process and a backend
that records what it parses (tests/integration/abuse.py states the invariants checked after
every case). Each case also states what the client gets."""
from __future__ import annotations

import json

import pytest

from tests.integration.abuse import (SMUGGLED_REQUEST, check_invariants, exchange,
                                     needs_daemons, target)

pytestmark = needs_daemons
__all__ = ["target"]  # the module-scoped fixture

POST = b"POST /upload HTTP/1.1\r\nHost: shop\r\n"
BODY = SMUGGLED_REQUEST  # what every smuggling attempt hides in its body


def cl_body(extra_headers: bytes, body: bytes = BODY) -> bytes:
    return POST + extra_headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


# (id, raw request bytes, requests the client sent, status the client gets)
REFUSED = [
    # Connection naming a framing header: dropping it as hop-by-hop smuggled the body
    ("connection-content-length", cl_body(b"Connection: content-length\r\n"), 1, 400),
    ("connection-close-content-length", cl_body(b"Connection: close, Content-LENGTH\r\n"), 1, 400),
    ("connection-transfer-encoding", POST + b"Connection: transfer-encoding\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY), 1, 400),
    ("connection-host", cl_body(b"Connection: host\r\n"), 1, 400),
    ("connection-te-second-header", cl_body(b"Connection: keep-alive\r\nConnection: x, "
                                            b"content-length\r\n"), 1, 400),
    # framing llhttp refuses (checked here so a parser change cannot bring them back)
    ("cl-and-te", POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     + SMUGGLED_REQUEST, 1, 400),
    ("te-and-cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
     + chunked(BODY), 1, 400),
    ("cl-zero-and-te", POST + b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
     + chunked(BODY), 1, 400),
    ("duplicate-cl-same", cl_body(b"Content-Length: %d\r\n" % len(BODY)), 1, 400),
    ("duplicate-cl-different", cl_body(b"Content-Length: 5\r\n"), 1, 400),
    ("cl-list", POST + b"Content-Length: 5, 5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("cl-plus", POST + b"Content-Length: +5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("cl-minus", POST + b"Content-Length: -5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("cl-hex", POST + b"Content-Length: 0x5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("cl-inner-space", POST + b"Content-Length: 1 5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("cl-space-before-colon", POST + b"Content-Length : 5\r\n\r\nhello" + SMUGGLED_REQUEST,
     1, 400),
    # Transfer-Encoding other than exactly chunked
    ("te-gzip-chunked", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked(BODY),
     1, 501),
    ("te-two-headers", POST + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
     + chunked(BODY), 1, 501),
    ("te-chunked-twice", POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n" + chunked(BODY),
     1, 400),
    ("te-identity", POST + b"Transfer-Encoding: identity\r\n\r\n" + SMUGGLED_REQUEST, 1, 501),
    ("te-xchunked", POST + b"Transfer-Encoding: xchunked\r\n\r\n" + chunked(BODY), 1, 501),
    ("te-in-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY),
     1, 400),
    ("te-obs-fold", POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n" + chunked(BODY), 1, 400),
    ("cl-obs-fold", POST + b"Content-Length: 1\r\n 5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("te-vertical-tab", POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n" + chunked(BODY),
     1, 400),
    # line endings and bytes a lenient parser would read differently
    ("bare-lf", b"POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello" + SMUGGLED_REQUEST,
     1, 400),
    ("bare-lf-in-headers", POST + b"X-A: 1\nContent-Length: 5\r\n\r\nhello" + SMUGGLED_REQUEST,
     1, 400),
    ("bare-cr", POST + b"X-A: 1\rContent-Length: 5\r\n\r\nhello" + SMUGGLED_REQUEST, 1, 400),
    ("nul-in-value", POST + b"X-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello", 1, 400),
    ("ctl-in-value", POST + b"X-A: a\x01b\r\n\r\n", 1, 400),
    ("nul-in-name", POST + b"X\x00A: b\r\n\r\n", 1, 400),
    ("space-in-name", POST + b"Content Length: 5\r\n\r\nhello", 1, 400),
    ("leading-space-header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 1, 400),
    # upgrades are not supported: with a body the request is refused, never split
    ("upgrade-with-cl-body", cl_body(b"Connection: Upgrade\r\nUpgrade: websocket\r\n"), 1, 400),
    ("upgrade-with-chunked-body", POST + b"Connection: Upgrade\r\nUpgrade: h2c\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY), 1, 400),
    ("connect-tunnel", b"CONNECT shop:443 HTTP/1.1\r\nHost: shop:443\r\n\r\n" + SMUGGLED_REQUEST,
     1, 405),
    # Host (RFC 9112 3.2)
    ("no-host", b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 1, 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 1, 400),
    ("two-hosts-same", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 1, 400),
    ("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 1, 400),
    ("host-with-path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 1, 400),
    ("host-with-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 1, 400),
    # targets
    ("absolute-form-userinfo", b"GET http://u@shop/ HTTP/1.1\r\nHost: shop\r\n\r\n", 1, 400),
    ("absolute-form-other-scheme", b"GET ftp://shop/ HTTP/1.1\r\nHost: shop\r\n\r\n", 1, 400),
    ("absolute-form-no-host", b"GET http:///x HTTP/1.1\r\nHost: shop\r\n\r\n", 1, 400),
    ("asterisk-get", b"GET * HTTP/1.1\r\nHost: shop\r\n\r\n", 1, 400),
    ("fragment", b"GET /a#b HTTP/1.1\r\nHost: shop\r\n\r\n", 1, 400),
    ("http-2.0", b"GET / HTTP/2.0\r\nHost: shop\r\n\r\n", 1, 505),
    ("http-0.9", b"GET /\r\n\r\n", 1, 505),
    # limits
    ("101-headers", b"GET / HTTP/1.1\r\nHost: a\r\n"
     + b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n", 1, 431),
    ("101-hop-headers", b"GET / HTTP/1.1\r\nHost: a\r\n"
     + b"X-Forwarded-For: 10.0.0.1\r\n" * 100 + b"\r\n", 1, 431),
    ("head-over-64k", b"GET / HTTP/1.1\r\nHost: a\r\n"
     + b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 1000) for i in range(70)) + b"\r\n", 1, 431),
    ("101-trailers", POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
     + b"".join(b"T%d: v\r\n" % i for i in range(101)) + b"\r\n", 1, 431),
]


@pytest.mark.parametrize("raw, sent, status", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused_and_nothing_smuggled(target, raw, sent, status):
    before = len(target.backend.requests)
    responses = exchange(target.lb, raw, expect=1)
    assert [r.status for r in responses] == [status]
    assert responses[0].headers["connection"] == "close"
    # refused before anything was forwarded
    assert len(target.backend.requests) == before
    check_invariants(target, before, sent)


def test_refusal_is_counted_by_reason(target):
    exchange(target.lb, cl_body(b"Connection: content-length\r\n"), expect=1)
    assert target.lb.metric("lbapp_lb_requests_rejected_total",
                            reason="connection_names_framing") >= 1
    report = target.lb.status()["connections"]
    assert report["rejected_requests"]["connection_names_framing"] >= 1


def test_pipelined_good_request_is_answered_before_the_refusal(target):
    before = len(target.backend.requests)
    good = b"GET /first HTTP/1.1\r\nHost: shop\r\n\r\n"
    responses = exchange(target.lb, good + cl_body(b"Connection: content-length\r\n"),
                         expect=2)
    assert [r.status for r in responses] == [200, 400]
    assert [r.target for r in target.backend.requests[before:]] == [b"/first"]
    check_invariants(target, before, 2)


@pytest.mark.parametrize("extension, trailer, status", [
    (b";ext=" + b"e" * 20_000, b"", 400),     # chunk extensions over their budget
    (b"", b"X-T: " + b"t" * 20_000 + b"\r\n", 431),  # a trailer section over its budget
])
def test_chunk_extensions_and_trailers_have_a_size_limit(target, extension, trailer, status):
    before = len(target.backend.requests)
    head = POST + b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
    # The head first (the LB answers 100 Continue once it has it), then the body in pieces.
    body = b"5%s\r\nhello\r\n0\r\n%s\r\n" % (extension, trailer)
    pieces = [head] + [body[i:i + 4096] for i in range(0, len(body), 4096)]
    responses = exchange(target.lb, pieces, expect=1, until_100=True)
    assert [r.status for r in responses] == [status]
    # the head had gone to the backend; the body never completed there
    assert not any(r.complete for r in target.backend.requests[before:])
    check_invariants(target, before, 1)


def test_small_chunk_extensions_and_trailers_pass_and_trailers_are_dropped(target):
    before = len(target.backend.requests)
    raw = (POST + b"Transfer-Encoding: chunked\r\n\r\n"
           b"5;name=value;flag\r\nhello\r\n6;q=\"x y\"\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")
    responses = exchange(target.lb, raw, expect=1)
    assert [r.status for r in responses] == [200]
    [seen] = target.backend.requests[before:]
    assert seen.body == b"hello world" and seen.complete and not seen.header(b"x-sum")
    check_invariants(target, before, 1)


FORWARDED = [
    # (id, raw, what the backend sees: target, Host)
    ("absolute-form", b"GET http://shop.example:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
     b"/p?q=1", b"shop.example:8080"),
    ("absolute-form-no-path", b"GET HTTP://Shop.Example HTTP/1.1\r\nHost: other\r\n\r\n",
     b"/", b"Shop.Example"),
    ("absolute-form-query-only", b"GET http://shop?x HTTP/1.1\r\nHost: shop\r\n\r\n",
     b"/?x", b"shop"),
    ("absolute-form-http10-no-host", b"GET http://shop/a HTTP/1.0\r\n\r\n", b"/a", b"shop"),
    ("options-asterisk", b"OPTIONS * HTTP/1.1\r\nHost: shop\r\n\r\n", b"*", b"shop"),
    ("http10-no-host", b"GET /old HTTP/1.0\r\n\r\n", b"/old", b""),
    ("host-ipv6-port", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", b"/", b"[::1]:80"),
    ("upgrade-without-body", b"GET /ws HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\n"
     b"Upgrade: websocket\r\n\r\n", b"/ws", b"shop"),
    ("te-chunked-any-case", POST + b"Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     b"/upload", b"shop"),
    ("connection-names-other", b"GET / HTTP/1.1\r\nHost: shop\r\nConnection: x-private\r\n"
     b"X-Private: secret\r\n\r\n", b"/", b"shop"),
]


@pytest.mark.parametrize("raw, path, host", [c[1:] for c in FORWARDED],
                         ids=[c[0] for c in FORWARDED])
def test_forwarded_with_one_framing_and_one_host(target, raw, path, host):
    before = len(target.backend.requests)
    responses = exchange(target.lb, raw, expect=1)
    assert [r.status for r in responses] == [200]
    [seen] = target.backend.requests[before:]
    assert seen.target == path and seen.header(b"host") == [host]
    assert json.loads(responses[0].body)["target"] == path.decode()
    assert not seen.header(b"upgrade") and not seen.header(b"x-private")
    check_invariants(target, before, 1)


def test_body_request_with_bad_bytes_behind_it_is_still_sent_and_answered(target):
    # A request with a body, then bytes that do not parse, in one packet, on a pooled backend
    # connection: the request goes out and is answered before the 400 (it once waited for the
    # response timeout, its bytes held back by the refusal of what followed).
    assert exchange(target.lb, b"GET /warm HTTP/1.1\r\nHost: shop\r\n\r\n", expect=1)[0].status == 200
    before = len(target.backend.requests)
    raw = (POST + b"Connection: close\r\nContent-Length: 5\r\n\r\nhello"
           + b"GET /after-close HTTP/1.1\r\nHost: shop\r\n\r\n")
    responses = exchange(target.lb, raw, expect=1)
    assert [r.status for r in responses] == [200]
    assert [(r.target, r.body) for r in target.backend.requests[before:]] == [(b"/upload", b"hello")]
    check_invariants(target, before, 2)
