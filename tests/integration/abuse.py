"""Hostile clients against a real LB process: the target (etcd, the LB server, a recording
backend), a raw-socket client, and the invariants every abuse test checks after each case:

1. the backend never parses more requests than the client sent (a smuggled request is one
   the LB forwarded as body bytes and the backend parsed as a request);
2. every request the backend parsed is a head the LB built: it ends with the LB's own
   ``X-Forwarded-Proto: http`` (clients here never send that header), and no request target
   the tests only ever put inside bodies (``/smuggled``) reaches the backend;
3. the next client, on a fresh connection, gets its own response (its tag comes back), and a
   normal GET still gets 200.
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass

import pytest

from tests.integration.harness import LB, Lab, base_config, http_get, missing_daemons, wait_until
from tests.integration.recording_backend import RecordingBackend

SMUGGLED = b"/smuggled"
SMUGGLED_REQUEST = b"GET /smuggled HTTP/1.1\r\nHost: victim\r\n\r\n"
READ_TIMEOUT = 5.0

needs_daemons = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")


@dataclass
class Target:
    lb: LB
    backend: RecordingBackend


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One LB process (config from etcd, polled) in front of one recording backend."""
    lab = Lab(tmp_path_factory.mktemp("abuse"))
    backend = RecordingBackend().start()
    try:
        etcd = lab.etcd()
        entry = {"name": "rec", "address": "127.0.0.1", "port": backend.port}
        etcd.put_config({**base_config([]), "backend_servers": [entry]})
        yield Target(lab.lb(etcd, None), backend)
    finally:
        lab.close()
        backend.stop()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_responses(data: bytes) -> list[Response]:
    """The responses in what the LB sent on one connection; bytes that do not parse as a
    response end the list with a status-0 entry holding them."""
    try:
        return _parse(data)
    except (ValueError, IndexError):
        return [Response(0, {}, data)]


def _parse(data: bytes) -> list[Response]:
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(lines[0].split()[1])
        if status < 200:
            data = rest
            continue
        if "content-length" in headers:
            size = int(headers["content-length"])
            body, data = rest[:size], rest[size:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    rest = rest[2:]
                    break
                body, rest = body + rest[:size], rest[size + 2:]
            data = rest
        else:
            body, data = rest, b""
        out.append(Response(status, headers, body))
    return out


def exchange(lb: LB, raw: bytes | list[bytes], expect: int = 0,
             until_100: bool = False) -> list[Response]:
    """Send ``raw`` (pieces: each waits for an interim 100 Continue first if ``until_100``),
    read until ``expect`` responses or the LB closes, then end our side and read to the end:
    when that returns, the LB has handled every byte sent."""
    pieces = [raw] if isinstance(raw, bytes) else raw
    data = b""
    with socket.create_connection(("127.0.0.1", lb.port), timeout=READ_TIMEOUT) as sock:
        for i, piece in enumerate(pieces):
            if until_100 and i == 1:
                while b"100 Continue" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the LB refused and closed already
        deadline = time.monotonic() + READ_TIMEOUT
        while len(parse_responses(data)) < expect and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return parse_responses(data)
            data += chunk
        try:
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, BrokenPipeError, OSError):
            pass
    return parse_responses(data)


def exchange_with_sentinel(lb: LB, raw: bytes) -> list[Response]:
    """Send ``raw`` and then a well-formed request; read until its response (answered after
    every request before it, in order) or until the LB closes; then as ``exchange``."""
    tag = uuid.uuid4().hex
    sentinel = b"GET /sentinel HTTP/1.1\r\nHost: s\r\nX-Tag: %s\r\n\r\n" % tag.encode()
    data = b""
    with socket.create_connection(("127.0.0.1", lb.port), timeout=READ_TIMEOUT) as sock:
        try:
            sock.sendall(raw + sentinel)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + READ_TIMEOUT
        while f'"tag": "{tag}"'.encode() not in data and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                break
            data += chunk
        try:
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    return parse_responses(data)


def check_invariants(target: Target, before: int, sent: int) -> None:
    backend, lb = target.backend, target.lb
    wait_until(backend.settled, 5, "the backend to parse everything the LB wrote")
    seen = backend.requests[before:]
    assert len(seen) <= sent, [(r.method, r.target) for r in seen]
    for request in seen:
        assert SMUGGLED not in request.target, request
        assert request.headers and request.headers[-1] == (b"x-forwarded-proto", b"http"), request
        assert request.header(b"x-forwarded-proto") == [b"http"], request
    tag = uuid.uuid4().hex
    status, _, body = http_get(lb.port, "/next", headers={"X-Tag": tag})
    assert status == 200 and json.loads(body)["tag"] == tag, body
    assert http_get(lb.port, "/")[0] == 200
