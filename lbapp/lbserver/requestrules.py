"""What the proxy refuses in a request, beyond what llhttp (strict mode) already refuses, and
how it forwards an absolute-form target. Pure functions and tables; ``proxy`` applies them.

llhttp refuses Content-Length with Transfer-Encoding, a repeated Content-Length, a Content-Length
that is not digits, obs-fold, bare CR or LF, control bytes in names and values, and a
Transfer-Encoding that does not end in ``chunked``. What it lets through and a proxy must not
forward (RFC 9112 3.2, 6.1, 6.3; RFC 9110 7.6.1):

- a ``Connection`` header naming Content-Length, Transfer-Encoding or Host: dropping those as
  hop-by-hop would forward a body without its framing (request smuggling);
- a Transfer-Encoding other than exactly ``chunked`` (``gzip, chunked``, two TE headers): the
  proxy re-chunks the body and would lose the other coding; HTTP/1.0 with Transfer-Encoding;
- an upgrade request with a body (llhttp would hand the body back as the next request);
- no Host (HTTP/1.1) or more than one, or one that is not ``host[:port]``;
- a target with a fragment, an asterisk-form target other than ``OPTIONS *``, an
  absolute-form target other than ``http(s)://authority...`` or with userinfo;
- an HTTP version other than 1.0 and 1.1;
- more than ``MAX_HEADERS`` header or trailer fields, a head over ``MAX_HEAD_BYTES``, chunk
  extensions and trailers over their budget.
"""
from __future__ import annotations

import re

# A request head (request line and headers) larger than this is refused with 431; llhttp has
# no limit of its own.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100                 # header fields of a head, and trailer fields (each 431)
# A chunked body's bytes that are not data: each chunk's size line and the CRLF after its
# data (CHUNK_LINE_BYTES, more with leading zeros), plus extensions and trailers, in total at
# most MAX_CHUNK_EXTENSION_BYTES + MAX_TRAILER_BYTES over the whole body.
CHUNK_LINE_BYTES = 24
MAX_CHUNK_EXTENSION_BYTES = 4096
MAX_TRAILER_BYTES = 8192
CHUNK_OVERHEAD_ALLOWANCE = MAX_CHUNK_EXTENSION_BYTES + MAX_TRAILER_BYTES

# Bytes of a target, as ints: ``int in bytes`` is a plain scan, while ``bytes in bytes`` first
# tries its argument as an int (raising and clearing an exception on every call).
SLASH = 0x2F
FRAGMENT = 0x23  # '#'
AT = 0x40

# Header names a Connection header may not make hop-by-hop.
FRAMING_HEADERS = frozenset((b"content-length", b"transfer-encoding", b"host"))


class Rejection:
    """Why a request is refused: status code, metric label, text of the response body."""

    __slots__ = ("code", "reason", "text")

    def __init__(self, code: int, reason: str, text: str) -> None:
        self.code, self.reason, self.text = code, reason, text

    def __repr__(self) -> str:
        return f"Rejection({self.code}, {self.reason})"


MALFORMED = Rejection(400, "malformed", "malformed request")
HEAD_TOO_LARGE = Rejection(431, "head_too_large", f"request head over {MAX_HEAD_BYTES} bytes")
TOO_MANY_HEADERS = Rejection(431, "too_many_headers", f"more than {MAX_HEADERS} header fields")
TOO_MANY_TRAILERS = Rejection(431, "too_many_trailers", f"more than {MAX_HEADERS} trailer fields")
TRAILERS_TOO_LARGE = Rejection(431, "trailers_too_large", "trailer section too large")
CHUNK_EXTENSIONS_TOO_LARGE = Rejection(400, "chunk_extensions_too_large",
                                       "chunk extensions too large")
MISSING_HOST = Rejection(400, "missing_host", "no Host header")
DUPLICATE_HOST = Rejection(400, "duplicate_host", "more than one Host header")
INVALID_HOST = Rejection(400, "invalid_host", "invalid Host header")
CONNECTION_NAMES_FRAMING = Rejection(400, "connection_names_framing",
                                     "Connection names Content-Length, Transfer-Encoding or Host")
DUPLICATE_LENGTH = Rejection(400, "duplicate_content_length", "more than one Content-Length")
INVALID_LENGTH = Rejection(400, "invalid_content_length", "invalid Content-Length")
LENGTH_WITH_CHUNKED = Rejection(400, "content_length_with_transfer_encoding",
                                "Content-Length with Transfer-Encoding")
DUPLICATE_TE = Rejection(400, "duplicate_transfer_encoding", "more than one Transfer-Encoding")
UNSUPPORTED_TE = Rejection(501, "unsupported_transfer_encoding",
                           "Transfer-Encoding other than chunked")
TE_IN_HTTP10 = Rejection(400, "transfer_encoding_in_http10", "Transfer-Encoding in HTTP/1.0")
UPGRADE_WITH_BODY = Rejection(400, "upgrade_with_body", "Upgrade request with a body")
INVALID_TARGET = Rejection(400, "invalid_target", "invalid request target")
HTTP_VERSION = Rejection(505, "http_version", "HTTP version other than 1.0 and 1.1")
CONNECT = Rejection(405, "connect", "CONNECT is not supported")

# uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP literal, or a reg-name of
# unreserved, sub-delims and percent-encoded octets (IPv4 addresses are reg-names here).
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
                   rb"(?::[0-9]*)?\Z")
_ABSOLUTE = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?]*)(.*)\Z", re.DOTALL)
_HTTP_SCHEMES = (b"http", b"https")
_OWS = b" \t"


def valid_host(value: bytes) -> bool:
    """Whether a Host value is ``host[:port]`` (empty is valid: RFC 9112 3.2)."""
    return _HOST.match(value) is not None


def content_length(value: bytes) -> int | None:
    """The length a Content-Length value states, or None if it is not exactly digits."""
    value = value.strip(_OWS)
    return int(value) if value.isdigit() and value.isascii() else None


def is_exactly_chunked(value: bytes) -> bool:
    return value.strip(_OWS).lower() == b"chunked"


def origin_form(url: bytes, method: bytes) -> tuple[bytes | None, bytes] | None:
    """For a target that is not origin-form (not starting with ``/``): (authority to send as
    Host, or None to keep the Host as is; target to forward), or None if the target is
    invalid. Absolute-form is forwarded in origin-form with its authority as Host (RFC 9112
    3.2.2); ``OPTIONS *`` is kept."""
    if url == b"*":
        return (None, url) if method == b"OPTIONS" else None
    match = _ABSOLUTE.match(url)
    if match is None or match.group(1).lower() not in _HTTP_SCHEMES:
        return None
    authority, rest = match.group(2), match.group(3)
    # An http(s) URI needs a host; userinfo in it is an error (RFC 9110 4.2.1, 4.2.4).
    if not authority or authority.startswith(b":") or AT in authority \
            or not valid_host(authority):
        return None
    if not rest:
        rest = b"*" if method == b"OPTIONS" else b"/"
    elif rest[:1] == b"?":
        rest = b"/" + rest
    return authority, rest
