"""HTTP/1.1 pieces of the proxy that need no I/O: header classes, framing, canned responses.

Headers travel as flat lists of byte strings, four items per header
(``name, b": ", value, b"\\r\\n"``), joined once when the head is written.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbapp.lbserver.requestrules import Rejection

CRLF = b"\r\n"
COLON = b": "
SP = b" "
HTTP11_CRLF = b" HTTP/1.1\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

# Methods a retry may resend (RFC 9110 9.2.2 idempotent methods).
IDEMPOTENT_METHODS = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))

# What the proxy does with a request header, by lower-cased name. Anything absent is forwarded.
H_DROP = 1          # hop-by-hop (RFC 9110 7.6.1): never forwarded
H_CONNECTION = 2    # hop-by-hop, and names further hop-by-hop headers
H_TE_BODY = 3       # Transfer-Encoding: the body is re-framed by the proxy
H_XFF = 4           # X-Forwarded-For: appended to
H_EXPECT = 5        # Expect: 100-continue is answered by the proxy itself
H_XFP = 6           # X-Forwarded-Proto: replaced when the proxy sets it
H_LENGTH = 7        # Content-Length: forwarded, and noted
H_KEY = 8           # the header config.hash.key names: forwarded, and its value kept
H_HOST = 9          # Host: exactly one (HTTP/1.1), valid, forwarded
H_UPGRADE = 10      # Upgrade: hop-by-hop, noted (an upgrade request with a body is refused)

REQUEST_HEADERS = {
    b"connection": H_CONNECTION,
    b"keep-alive": H_DROP,
    b"proxy-connection": H_DROP,
    b"te": H_DROP,
    b"trailer": H_DROP,
    b"upgrade": H_UPGRADE,
    b"transfer-encoding": H_TE_BODY,
    b"host": H_HOST,
    b"x-forwarded-for": H_XFF,
    b"expect": H_EXPECT,
    b"content-length": H_LENGTH,
}
REQUEST_HEADERS_WITH_XFP = {**REQUEST_HEADERS, b"x-forwarded-proto": H_XFP}

RESPONSE_HEADERS = {
    b"connection": H_CONNECTION,
    b"keep-alive": H_DROP,
    b"proxy-connection": H_DROP,
    b"trailer": H_DROP,
    b"upgrade": H_DROP,
    b"transfer-encoding": H_TE_BODY,
    b"content-length": H_LENGTH,
}

# Same tables keyed by the spellings seen in practice, plus common plain headers (kind 0), so
# most headers are classified without lower-casing. Names not found here are lower-cased and
# looked up in the tables above.
_COMMON_PLAIN = (b"Host", b"User-Agent", b"Accept", b"Accept-Encoding", b"Accept-Language",
                 b"Cookie", b"Content-Type", b"Referer", b"Cache-Control", b"Authorization",
                 b"Origin", b"Pragma", b"Server", b"Date", b"X-Backend", b"Last-Modified",
                 b"ETag", b"Vary", b"Set-Cookie", b"Accept-Ranges", b"Expires",
                 b"Content-Encoding", b"Location", b"Access-Control-Allow-Origin")


def exact_case_table(kinds: dict[bytes, int]) -> dict[bytes, int]:
    table = {}
    for name in _COMMON_PLAIN:
        table[name] = table[name.lower()] = 0
    for lname, kind in kinds.items():
        title = b"-".join(part[:1].upper() + part[1:] for part in lname.split(b"-"))
        for spelling in (lname, title, lname.upper()):
            table[spelling] = kind
    return table


SIMPLE_CONNECTION_VALUES = frozenset((b"keep-alive", b"close", b"Keep-Alive", b"Close",
                                      b"KEEP-ALIVE", b"CLOSE"))

REASONS = {
    100: b"Continue", 200: b"OK", 201: b"Created", 202: b"Accepted", 204: b"No Content",
    206: b"Partial Content", 301: b"Moved Permanently", 302: b"Found", 303: b"See Other",
    304: b"Not Modified", 307: b"Temporary Redirect", 308: b"Permanent Redirect",
    400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 408: b"Request Timeout", 411: b"Length Required",
    413: b"Content Too Large", 429: b"Too Many Requests", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 501: b"Not Implemented", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout",
}

STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in REASONS.items()}


def status_line(code: int) -> bytes:
    """``HTTP/1.1 <code> <reason>\\r\\n`` with the standard reason phrase (the backend's own
    phrase is not kept: it carries no meaning in HTTP/1.1)."""
    line = STATUS_LINES.get(code)
    if line is None:
        line = b"HTTP/1.1 %d Unknown\r\n" % code
    return line


def connection_tokens(value: bytes) -> set[bytes]:
    """Lower-cased tokens of a Connection header value."""
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


def extra_hop_headers(tokens: set[bytes]) -> set[bytes]:
    """Header names a Connection header marks hop-by-hop, beyond the framing tokens."""
    return tokens - {b"close", b"keep-alive", b"upgrade"}


def drop_named_headers(parts: list[bytes], start: int, names: set[bytes]) -> list[bytes]:
    """Copy of a flat header list (4 items per header, from ``start``) without ``names``."""
    kept = parts[:start]
    for i in range(start, len(parts), 4):
        if parts[i].lower() not in names:
            kept += parts[i:i + 4]
    return kept


def set_header(parts: list[bytes], start: int, lname: bytes, value: bytes) -> None:
    """Set the value of the first header named ``lname`` in a flat header list (4 items per
    header, from ``start``); append the header if there is none."""
    for i in range(start, len(parts), 4):
        if parts[i].lower() == lname:
            parts[i + 2] = value
            return
    parts += (lname.title(), COLON, value, CRLF)


def forwarded_for(existing: bytes | None, client_ip: bytes) -> bytes:
    """The X-Forwarded-For header line with the client appended (RFC 7239 order)."""
    if existing:
        return b"X-Forwarded-For: " + existing + b", " + client_ip + CRLF
    return b"X-Forwarded-For: " + client_ip + CRLF


def chunk_size_line(size: int) -> bytes:
    return b"%x\r\n" % size


def is_token_value(value: bytes, token: bytes) -> bool:
    """Whether a comma-separated header value contains ``token`` (case-insensitive)."""
    return any(part.strip().lower() == token for part in value.split(b","))


def local_response(code: int, lb_name: bytes, close: bool, head_only: bool,
                   detail: bytes = b"") -> bytes:
    """A response the LB writes itself (400, 502, 503, 504 ...)."""
    reason = REASONS.get(code, b"Error")
    body = b"%d %s%s\n" % (code, reason, b": " + detail if detail else b"")
    head = [b"HTTP/1.1 %d %s\r\n" % (code, reason),
            b"Content-Type: text/plain\r\n",
            b"Content-Length: %d\r\n" % len(body),
            b"X-LB: " + lb_name + CRLF]
    if close:
        head.append(b"Connection: close\r\n")
    head.append(CRLF)
    return b"".join(head) + (b"" if head_only else body)


class LocalResponses:
    """Pre-built LB responses by (code, close, head_only), and refusals of bad requests (each
    says why, and closes)."""

    CODES = (400, 403, 405, 408, 413, 431, 500, 501, 502, 503, 504, 505)

    def __init__(self, lb_name: str) -> None:
        self.name = lb_name.encode()
        self._table = {(code, close, head_only): local_response(code, self.name, close, head_only)
                       for code in self.CODES for close in (False, True)
                       for head_only in (False, True)}
        self._refusals: dict[str, bytes] = {}

    def get(self, code: int, close: bool, head_only: bool) -> bytes:
        return self._table[(code, close, head_only)]

    def refusal(self, why: "Rejection") -> bytes:
        response = self._refusals.get(why.reason)
        if response is None:
            response = self._refusals[why.reason] = local_response(
                why.code, self.name, True, False, why.text.encode())
        return response


# Hash-key sources (config.hash.key): client_ip, path, header:<Name>.
KEY_NONE = 0
KEY_CLIENT_IP = 1
KEY_PATH = 2
KEY_HEADER = 3


def key_source(spec: str) -> tuple[int, bytes | None]:
    """config.hash.key -> (KEY_* kind, lower-cased header name or None)."""
    if spec == "client_ip":
        return KEY_CLIENT_IP, None
    if spec == "path":
        return KEY_PATH, None
    if spec.startswith("header:") and len(spec) > 7:
        return KEY_HEADER, spec[7:].strip().lower().encode("latin-1")
    raise ValueError(f"unknown hash key source {spec!r}")


def request_key(kind: int, client_ip: bytes, url: bytes, header_value: bytes | None) -> bytes:
    """The bytes a hashing balancer hashes; a missing header falls back to the client IP."""
    if kind == KEY_PATH:
        return url.partition(b"?")[0]
    if kind == KEY_HEADER and header_value is not None:
        return header_value
    return client_ip
