import pytest

from lbapp.lbserver import http


def test_connection_tokens_and_extra_hop_headers():
    tokens = http.connection_tokens(b"close, X-Secret ,keep-alive")
    assert tokens == {b"close", b"x-secret", b"keep-alive"}
    assert http.extra_hop_headers(tokens) == {b"x-secret"}


def test_drop_named_headers_keeps_the_rest_in_order():
    parts = [b"GET / HTTP/1.1\r\n",
             b"Host", b": ", b"a", b"\r\n",
             b"X-Secret", b": ", b"s", b"\r\n",
             b"Accept", b": ", b"*/*", b"\r\n"]
    kept = http.drop_named_headers(parts, 1, {b"x-secret"})
    assert b"".join(kept) == b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"


def test_forwarded_for_appends_client():
    assert http.forwarded_for(None, b"10.0.0.1") == b"X-Forwarded-For: 10.0.0.1\r\n"
    assert (http.forwarded_for(b"1.2.3.4", b"10.0.0.1")
            == b"X-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n")


def test_hop_by_hop_request_headers_are_classified():
    kinds = http.REQUEST_HEADERS
    for name in (b"connection", b"keep-alive", b"te", b"trailer", b"upgrade",
                 b"proxy-connection"):
        assert kinds[name] in (http.H_DROP, http.H_CONNECTION, http.H_UPGRADE)
    assert kinds[b"transfer-encoding"] == http.H_TE_BODY
    assert kinds[b"host"] == http.H_HOST  # counted and checked, then forwarded
    assert http.REQUEST_HEADERS_WITH_XFP[b"x-forwarded-proto"] == http.H_XFP


def test_status_line_has_standard_reason():
    assert http.status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert http.status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert http.status_line(299) == b"HTTP/1.1 299 Unknown\r\n"


def test_chunk_size_line():
    assert http.chunk_size_line(255) == b"ff\r\n"


def test_local_response_is_well_formed():
    raw = http.local_response(503, b"lb1", close=True, head_only=False)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"X-LB: lb1" in head and b"Connection: close" in head
    assert b"Content-Length: %d" % len(body) in head
    head_only = http.local_response(503, b"lb1", close=False, head_only=True)
    assert head_only.endswith(b"\r\n\r\n") and b"Connection" not in head_only


def test_local_responses_table():
    table = http.LocalResponses("lb1")
    assert table.get(400, True, False).startswith(b"HTTP/1.1 400 ")


def test_is_token_value():
    assert http.is_token_value(b"100-Continue", b"100-continue")
    assert not http.is_token_value(b"something", b"100-continue")


@pytest.mark.parametrize("spec, kind, header", [
    ("client_ip", http.KEY_CLIENT_IP, None),
    ("path", http.KEY_PATH, None),
    ("header:X-User", http.KEY_HEADER, b"x-user"),
])
def test_key_source(spec, kind, header):
    assert http.key_source(spec) == (kind, header)


def test_request_key():
    ip = b"10.0.0.7"
    assert http.request_key(http.KEY_CLIENT_IP, ip, b"/a?b=1", None) == ip
    assert http.request_key(http.KEY_PATH, ip, b"/a/b?x=1", None) == b"/a/b"
    assert http.request_key(http.KEY_HEADER, ip, b"/", b"alice") == b"alice"
    # a missing header falls back to the client address
    assert http.request_key(http.KEY_HEADER, ip, b"/", None) == ip
