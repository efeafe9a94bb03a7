"""Property test: generated request bytes (built from the hostile pieces of the abuse suite:
framing variants, Connection tokens, Host variants, targets, versions, control bytes, line
endings, bodies hiding a request) against a real LB process and the recording backend. For
every example the invariants of tests/integration/abuse.py hold.

Examples per run: 300 by default (about 20 s here); more with
``LBLAB_FUZZ_EXAMPLES=5000 pytest tests/integration/test_lbserver_fuzz.py``."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.abuse import (SMUGGLED_REQUEST, check_invariants,
                                     exchange_with_sentinel, needs_daemons, target)

pytestmark = needs_daemons
__all__ = ["target"]  # the module-scoped fixture

EXAMPLES = int(os.environ.get("LBLAB_FUZZ_EXAMPLES", "300"))

METHODS = [b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"DELETE", b"PATCH", b"CONNECT"]
TARGETS = [b"/", b"/a?b=1", b"*", b"http://shop/x", b"HTTP://shop", b"/a#frag", b"http://u@h/",
           b"//double", b"shop:443", b"ftp://shop/"]
VERSIONS = [b"HTTP/1.1"] * 4 + [b"HTTP/1.0", b"HTTP/2.0"]
LINE_ENDS = [b"\r\n"] * 8 + [b"\n", b"\r"]
HOSTS = [b"shop", b"shop:8080", b"", b"a b", b"a/b", b"[::1]", b"u@h", b"sh\x00op"]
CONNECTION_TOKENS = [b"close", b"keep-alive", b"Upgrade", b"content-length", b"Transfer-Encoding",
                     b"host", b"x-private"]
EXTRA_HEADERS = [b"X-A: 1", b"X-B: a\x00b", b"X-C: \x01", b"X-D: v\r\n folded",
                 b"Expect: 100-continue", b"X-Forwarded-For: 1.2.3.4", b"Keep-Alive: 5",
                 b"Upgrade: websocket", b"Trailer: X-T", b"X-E : space", b" X-F: lead",
                 b"X-G: \xff obs-text", b"TE: trailers"]
BODIES = [SMUGGLED_REQUEST, b"0\r\n\r\n" + SMUGGLED_REQUEST, b"hello",
          b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED_REQUEST]
# Content-Length spellings of a length n: valid ones, and ones a proxy must refuse.
CL_FORMS = [b"%d", b"%d", b"00%d", b"%d  ", b"+%d", b"-%d", b"%d, %d", b"0x%x", b"%d %d", b""]
TE_FORMS = [b"chunked", b"chunked", b"Chunked", b"gzip, chunked", b"chunked, chunked",
            b"identity", b" chunked", b"chunked\x0b"]


def chunked(body: bytes, extension: bytes = b"") -> bytes:
    if not body:
        return b"0%s\r\n\r\n" % extension
    return b"%x%s\r\n%s\r\n0\r\n\r\n" % (len(body), extension, body)


def cl_value(form: bytes, n: int) -> bytes:
    return form % ((n,) * form.count(b"%")) if b"%" in form else form


def mostly(usual, others: list):
    """The usual value about half the time, else one of the others: a generated request is
    well-formed but for a few hostile pieces, so the pieces that matter meet often."""
    return st.one_of(st.just(usual), st.sampled_from(others))


@st.composite
def message(draw) -> bytes:
    """One request as a client might send it; its body is framed as the headers intend, so
    any request the backend parses out of a body was smuggled."""
    end = draw(mostly(b"\r\n", LINE_ENDS))
    line = b"%s %s %s" % (draw(st.sampled_from(METHODS)), draw(mostly(b"/", TARGETS)),
                          draw(mostly(b"HTTP/1.1", VERSIONS)))
    headers = [b"Host: " + h for h in draw(mostly([b"shop"], [[], [b"shop", b"shop"]]
                                                  + [[h] for h in HOSTS]))]
    tokens = draw(st.lists(st.sampled_from(CONNECTION_TOKENS), max_size=2))
    if tokens:
        headers.append(b"Connection: " + b", ".join(tokens))
    headers += draw(mostly([], [[h] for h in EXTRA_HEADERS]))
    body = draw(st.sampled_from(BODIES))
    framing = draw(st.sampled_from(["length", "chunked"] * 2 + ["none", "both", "two-lengths"]))
    if framing == "none":
        sent = b""
    elif framing == "length":
        headers.append(b"Content-Length: " + cl_value(draw(mostly(b"%d", CL_FORMS)), len(body)))
        sent = body
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: " + draw(mostly(b"chunked", TE_FORMS)))
        sent = chunked(body, draw(mostly(b"", [b";a=b", b';q="x y"', b";\x01"])))
    elif framing == "both":  # ambiguous: must be refused, so the length is the wrong one
        sent = chunked(body)
        headers += draw(st.permutations([b"Content-Length: %d" % draw(st.integers(0, 5)),
                                         b"Transfer-Encoding: chunked"]))
    else:  # two Content-Lengths, the first one the body's
        headers += [b"Content-Length: %d" % len(body),
                    b"Content-Length: %d" % draw(st.integers(0, len(body)))]
        sent = body
    headers = draw(st.permutations(headers))
    return line + end + b"".join(h + end for h in headers) + end + sent


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=st.lists(message(), min_size=1, max_size=3))
def test_generated_requests_keep_the_invariants(target, messages):
    before = len(target.backend.requests)
    exchange_with_sentinel(target.lb, b"".join(messages))
    check_invariants(target, before, len(messages) + 1)
