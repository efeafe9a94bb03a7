"""The backend app's HTTP behaviour, in process (raw bytes on 127.0.0.1), and its clean
shutdown as a process."""
from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

from lbapp.backend.app import AppState, BackendProtocol
from tests.integration.harness import http_get
from tests.integration.test_lbserver_inprocess import read_response, run


async def start_backend(env, name: str = "be1") -> int:
    app = AppState(name, idle_timeout=0)
    return await env.server(lambda: BackendProtocol(app))


@run
async def test_routes(env):
    port = await start_backend(env)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def ask(raw: bytes, head_only: bool = False):
        writer.write(raw)
        return await read_response(reader, head_only)

    status, headers, body, _ = await ask(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
    assert status == 200 and headers["x-backend"] == "be1"
    assert json.loads(body) == {"backend": "be1"}
    assert (await ask(b"GET /health HTTP/1.1\r\n\r\n"))[2] == b"ok\n"
    assert (await ask(b"GET /status?code=418 HTTP/1.1\r\n\r\n"))[0] == 418
    status, _, body, _ = await ask(b"GET /bytes?n=100000 HTTP/1.1\r\n\r\n")
    assert status == 200 and len(body) == 100000
    status, headers, body, _ = await ask(b"GET /bytes?n=70000&chunked=1 HTTP/1.1\r\n\r\n")
    assert headers["transfer-encoding"] == "chunked" and len(body) == 70000
    status, headers, _, _ = await ask(b"HEAD / HTTP/1.1\r\n\r\n", head_only=True)
    assert status == 200 and headers["content-length"] == "18"
    status, _, body, _ = await ask(b"GET /headers HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
    assert ["X-Forwarded-For", "1.2.3.4"] in json.loads(body)["headers"]
    assert (await ask(b"GET /nope HTTP/1.1\r\n\r\n"))[0] == 404
    # knobs are not on the data plane
    assert (await ask(b"PATCH /-/knobs HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))[0] == 404
    status, _, body, _ = await ask(b"GET /metrics HTTP/1.1\r\n\r\n")
    assert b'lbapp_backend_requests_total{backend="be1",code="418",route="/status"} 1.0' in body
    writer.close()


@run
async def test_echo_streams_content_length_and_chunked(env):
    port = await start_backend(env)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = b"x" * 300_000
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
    status, headers, body, _ = await read_response(reader)
    assert status == 200 and body == payload and headers["content-length"] == "300000"
    writer.write(b"PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    status, headers, body, _ = await read_response(reader)
    assert body == b"hello world" and headers["transfer-encoding"] == "chunked"
    writer.close()


@run
async def test_pipelined_requests_in_order(env):
    port = await start_backend(env)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /delay?ms=50 HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n"
                 b"\r\nhiGET /status?code=202 HTTP/1.1\r\n\r\n")
    got = [await read_response(reader) for _ in range(3)]
    assert [g[0] for g in got] == [200, 200, 202] and got[1][2] == b"hi"
    writer.close()


@run
async def test_malformed_request_gets_400_and_close(env):
    port = await start_backend(env)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"BLAH\x00\r\n\r\n")
    status, headers, _, _ = await read_response(reader)
    assert status == 400 and headers["connection"] == "close"
    assert await reader.read() == b""
    writer.close()


def test_sigterm_finishes_in_flight_and_exits_0(lab):
    backend = lab.backend("be1")
    result = {}

    def slow():
        result["r"] = http_get(backend.port, "/delay?ms=800", timeout=10)

    worker = threading.Thread(target=slow)
    worker.start()
    deadline = time.monotonic() + 5
    # wait until the request is in flight (the backend counts open connections)
    while time.monotonic() < deadline:
        metrics = http_get(backend.port, "/metrics")[2]
        if b'lbapp_backend_connections{backend="be1"} 2.0' in metrics:
            break
        time.sleep(0.02)
    backend.proc.signal(signal.SIGTERM)
    worker.join(10)
    assert result["r"][0] == 200
    assert backend.proc.wait(10) == 0
