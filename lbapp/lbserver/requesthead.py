"""The request-head half of a client connection: headers that need care, the rules of
``requestrules`` applied to a head, and the limits on a chunked body's framing. The hot path
(plain headers, plain heads) stays in ``proxy.ClientConnection``, which this is a base of."""
from __future__ import annotations

from lbapp.lbserver.http import (COLON, CRLF, H_CONNECTION, H_EXPECT, H_HOST, H_KEY, H_LENGTH,
                                 H_TE_BODY, H_UPGRADE, H_XFF, SIMPLE_CONNECTION_VALUES,
                                 connection_tokens, extra_hop_headers, is_token_value)
from lbapp.lbserver.requestrules import (
    CHUNK_EXTENSIONS_TOO_LARGE, CHUNK_LINE_BYTES, CHUNK_OVERHEAD_ALLOWANCE, CONNECT,
    CONNECTION_NAMES_FRAMING, DUPLICATE_HOST, DUPLICATE_LENGTH, DUPLICATE_TE, FRAMING_HEADERS,
    HTTP_VERSION, INVALID_LENGTH, INVALID_TARGET, LENGTH_WITH_CHUNKED, MAX_HEADERS,
    FRAGMENT, MAX_TRAILER_BYTES, SLASH,
    MISSING_HOST, TE_IN_HTTP10, TOO_MANY_HEADERS, TOO_MANY_TRAILERS, TRAILERS_TOO_LARGE,
    UNSUPPORTED_TE, UPGRADE_WITH_BODY, Rejection, content_length, is_exactly_chunked,
    origin_form)

# Bits of ClientConnection.hflags: what the request's headers said.
F_BODY = 1        # Content-Length other than 0
F_CHUNKED = 2     # Transfer-Encoding: chunked
F_CONNECTION = 4  # a Connection header (so keep-alive does not tell the HTTP version)
F_DROP = 8        # the Connection header named more headers to drop (conn_drop)
F_XFF = 16        # X-Forwarded-For present (xff_in)
F_EXPECT = 32     # Expect: 100-continue
F_KEY = 64        # the hash-key header (key_value)
F_HOST = 128      # a Host header (every HTTP/1.1 request has exactly one)
F_LENGTH = 256    # a Content-Length header (even 0)
F_UPGRADE = 512   # an Upgrade header (dropped)
F_AUTHORITY = 1024  # an absolute-form target: its authority replaces the Host (in host)

# A read that goes on with a chunked body is parsed in slices of this size, its framing bytes
# counted after each: an over-long extension or trailer section is caught even when the body
# ends in the same read (the read in which the body starts is counted from the next read on).
CHUNK_SLICE = 4096
# Items of ``hdrs`` for MAX_HEADERS forwarded headers (4 each, after 4 of the request line):
# a head with more is checked by the rules that count every header.
MAX_HEADER_ITEMS = 4 + 4 * MAX_HEADERS


class RequestHead:
    """State of the request being parsed, and the checks of its head and chunked body.

    ``reject(Rejection)`` (the connection's) refuses the request; ``parser`` is its parser."""

    __slots__ = (
        # hflags: F_* bits of the headers seen; dropped: headers not kept as they are
        "url", "hdrs", "hflags", "dropped", "xff_in", "key_value", "conn_drop", "host",
        "host_ok", "http10",
        # a chunked request body as parsed (in real time, also while its events are held):
        # chunk lines seen, data bytes, bytes that were neither, trailer fields
        "chunk_lines", "chunk_data", "chunk_overhead", "chunk_seq", "chunk_pending", "trailers",
        "trailer_bytes", "te_seen",
    )

    def reject(self, why: Rejection) -> None:
        raise NotImplementedError

    def _header_outside_head(self, name: bytes, value: bytes) -> None:
        if self.deferred is not None:  # a header of a pipelined request held for later
            if name.lower() == b"transfer-encoding":
                self.te_seen = True  # its chunked body is parsed before its events replay
            self.deferred.append((self.on_header, (name, value)))
            return
        # A trailer field (after the last chunk): not forwarded, but counted.
        self.trailers += 1
        self.trailer_bytes += len(name) + len(value) + 4
        if self.trailers > MAX_HEADERS:
            self.reject(TOO_MANY_TRAILERS)
        elif self.trailer_bytes > MAX_TRAILER_BYTES:
            self.reject(TRAILERS_TOO_LARGE)

    def _special_header(self, kind: int, name: bytes, value: bytes) -> None:
        flags = self.hflags
        if kind == H_LENGTH:
            length = content_length(value)
            if flags & F_LENGTH or length is None:
                self.reject(DUPLICATE_LENGTH if flags & F_LENGTH else INVALID_LENGTH)
                return
            self.hdrs.extend((name, COLON, value, CRLF))
            self.hflags = flags | (F_LENGTH | F_BODY if length else F_LENGTH)
            return
        if kind == H_KEY:
            self.hdrs.extend((name, COLON, value, CRLF))
            self.key_value = value
            self.hflags = flags | F_KEY
            return
        if kind == H_HOST:  # a second one
            self.reject(DUPLICATE_HOST)
            return
        # The rest are not forwarded as they are; count them against the header limit before
        # they cost anything.
        self.dropped += 1
        if self.dropped > MAX_HEADERS:
            self.reject(TOO_MANY_HEADERS)
        elif kind == H_CONNECTION:
            self.hflags = flags | F_CONNECTION
            if value not in SIMPLE_CONNECTION_VALUES:
                tokens = connection_tokens(value)
                if not tokens.isdisjoint(FRAMING_HEADERS):
                    # Dropping the framing as hop-by-hop would forward a body unframed.
                    self.reject(CONNECTION_NAMES_FRAMING)
                    return
                extra = extra_hop_headers(tokens)
                if extra:
                    self.conn_drop = extra if not flags & F_DROP else self.conn_drop | extra
                    self.hflags |= F_DROP
        elif kind == H_XFF:
            self.xff_in = value if not flags & F_XFF else self.xff_in + b", " + value
            self.hflags = flags | F_XFF
        elif kind == H_TE_BODY:
            if flags & F_CHUNKED:
                self.reject(DUPLICATE_TE)
            elif not is_exactly_chunked(value):
                self.reject(UNSUPPORTED_TE)
            else:
                self.hflags = flags | F_CHUNKED
        elif kind == H_EXPECT:
            if is_token_value(value, b"100-continue"):
                self.hflags = flags | F_EXPECT
            else:
                self.dropped -= 1
                self.hdrs.extend((name, COLON, value, CRLF))
        elif kind == H_UPGRADE:
            self.hflags = flags | F_UPGRADE
        # other hop-by-hop headers (and a client's X-Forwarded-Proto) are dropped

    def on_chunk_header(self) -> None:
        self.chunk_lines += 1
        self.chunk_pending = True  # until data follows: after the last chunk, trailers do

    def _chunked_body_starts(self) -> None:
        self.chunk_lines = 1
        self.chunk_data = self.chunk_overhead = self.trailers = self.trailer_bytes = 0
        self.chunk_seq += 1
        self.chunk_pending = False

    def _count_chunk_overhead(self, size: int) -> None:
        """``size`` bytes of a chunked body were not data: chunk-size lines, extensions,
        trailers."""
        self.chunk_overhead += size
        if self.chunk_overhead > CHUNK_LINE_BYTES * self.chunk_lines + CHUNK_OVERHEAD_ALLOWANCE:
            self.reject(TRAILERS_TOO_LARGE if self.chunk_pending else CHUNK_EXTENSIONS_TOO_LARGE)

    def _check_head(self, method: bytes, version: str | None,
                    upgrade: bool | None) -> Rejection | None:
        """Every rule of requestrules for a head that is not plain; sets ``http10``, and for an
        absolute-form target the ``url`` and ``host`` to forward. The refusal, if any."""
        flags = self.hflags
        if version is None:
            version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0":
            return HTTP_VERSION
        http10 = self.http10 = version == "1.0"
        if method == b"CONNECT":
            return CONNECT
        if (len(self.hdrs) >> 2) - 1 + self.dropped > MAX_HEADERS:
            return TOO_MANY_HEADERS
        if not flags & F_HOST:
            if not http10:
                return MISSING_HOST
            self.host = b""
        if flags & F_CHUNKED:
            if http10:
                return TE_IN_HTTP10
            if flags & F_LENGTH:
                return LENGTH_WITH_CHUNKED
        if flags & F_UPGRADE and flags & (F_BODY | F_CHUNKED):
            if upgrade is None:
                upgrade = self.parser.should_upgrade()
            if upgrade:  # llhttp would hand the body back as the next request
                return UPGRADE_WITH_BODY
        url = self.url
        if url[0] != SLASH or FRAGMENT in url:
            target = None if FRAGMENT in url else origin_form(url, method)
            if target is None:
                return INVALID_TARGET
            authority, self.url = target
            if authority is not None:
                self.host = authority
                self.hflags = flags | F_AUTHORITY
        return None

