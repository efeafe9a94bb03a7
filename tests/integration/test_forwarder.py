"""The lab's forwarder on real sockets (127.0.0.1 on both sides; joining a node's namespace is
the e2e tests' part): bytes both ways with half-close, the connection cap, the idle timeout that
spares a stream still sending, and an upstream that refuses."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from lblab.lab.forwarder import Forwarder


async def upstream_server(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def start_forwarder(upstream_port: int, **options):
    settings = {"max_connections": 64, "connect_timeout": 1.0, "idle_timeout": 60.0, **options}
    forwarder = Forwarder(("127.0.0.1", upstream_port), **settings)
    server = await asyncio.start_server(forwarder.handle, "127.0.0.1", 0)
    return forwarder, server, server.sockets[0].getsockname()[1]


async def upper_until_eof(reader, writer):
    """Echo upper-cased until the client half-closes, then say so and close."""
    data = await reader.read()
    writer.write(data.upper() + b"|eof seen")
    await writer.drain()
    writer.close()


def test_bytes_flow_both_ways_and_a_half_close_is_passed_on():
    async def scenario():
        up, up_port = await upstream_server(upper_until_eof)
        _, server, port = await start_forwarder(up_port)
        async with up, server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            payload = b"x" * 300_000 + b"hello"
            writer.write(payload)
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return payload, answer
    payload, answer = asyncio.run(scenario())
    assert answer == payload.upper() + b"|eof seen"


def test_connections_over_the_cap_are_closed_and_slots_come_back():
    async def scenario():
        async def hold(reader, writer):
            await reader.read()
            writer.close()
        up, up_port = await upstream_server(hold)
        forwarder, server, port = await start_forwarder(up_port, max_connections=3)
        async with up, server:
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
            await asyncio.sleep(0.2)
            assert forwarder.active == 3
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            refused = await asyncio.wait_for(reader.read(), 2)     # closed at once: EOF
            writer.close()
            for _, w in held:
                w.close()
            deadline = time.monotonic() + 3
            while forwarder.active and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return refused, forwarder.active
    refused, active_after = asyncio.run(scenario())
    assert refused == b"" and active_after == 0


def test_idle_connections_are_closed_but_a_stream_that_sends_is_not():
    async def scenario():
        async def tick(reader, writer):
            if (await reader.readline()) == b"stream\n":
                for _ in range(8):                  # 2 s of one line every 0.25 s
                    writer.write(b"tick\n")
                    await writer.drain()
                    await asyncio.sleep(0.25)
            else:
                await reader.read()                 # silent until closed
            writer.close()
        up, up_port = await upstream_server(tick)
        _, server, port = await start_forwarder(up_port, idle_timeout=1.0)
        async with up, server:
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            w1.write(b"silent\n")
            started = time.monotonic()
            idle = await asyncio.wait_for(r1.read(), 5)
            idle_closed_after = time.monotonic() - started
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(b"stream\n")
            ticks = await asyncio.wait_for(r2.read(), 6)
            w1.close()
            w2.close()
            return idle, idle_closed_after, ticks
    idle, after, ticks = asyncio.run(scenario())
    assert idle == b"" and 0.9 <= after <= 3.0, after
    assert ticks == b"tick\n" * 8            # 2 s, longer than the idle timeout, all delivered


def test_an_upstream_that_refuses_closes_the_client(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]   # bound, never listening: connects are refused

        async def scenario():
            forwarder, server, port = await start_forwarder(closed_port)
            async with server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.0\r\n\r\n")
                answer = await asyncio.wait_for(reader.read(), 3)
                writer.close()
                return answer, forwarder.active
        answer, active = asyncio.run(scenario())
    assert answer == b"" and active == 0
    assert f"upstream 127.0.0.1:{closed_port}" in caplog.text and "Connect call failed" in caplog.text


@pytest.mark.parametrize("count", [20])
def test_many_short_connections_in_parallel(count):
    async def scenario():
        async def echo(reader, writer):
            writer.write(await reader.read())
            await writer.drain()
            writer.close()
        up, up_port = await upstream_server(echo)
        forwarder, server, port = await start_forwarder(up_port)

        async def one(i: int) -> bool:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"message {i}".encode())
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer == f"message {i}".encode()
        async with up, server:
            results = await asyncio.gather(*(one(i) for i in range(count)))
            await asyncio.sleep(0.1)
            return results, forwarder.active
    results, active = asyncio.run(scenario())
    assert all(results) and active == 0
