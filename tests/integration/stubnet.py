# Helpers, not tests (named test_traffic_* to live with them).
"""Tiny loopback-only servers for the traffic generator tests: an HTTP server and a UDP DNS
server (dnspython messages), each on 127.0.0.1 with an ephemeral port, in a background thread.
Their behaviour is switchable while running (ok / hang / reset / http status / servfail ...)."""
from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import threading

import dns.message
import dns.rcode
import dns.rrset


class _Loop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro, timeout=5):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        async def cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.call(cancel_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            self.loop.close()


class StubHttp:
    """mode: "ok", "hang" (accept, never answer), "reset" (RST on request), "status:<code>",
    "close" (close without answering)."""

    def __init__(self, lbs=("lb1", "lb2", "lb3"), backends=("be1", "be2")):
        self.mode = "ok"
        self.lbs, self.backends = lbs, backends
        self.count = 0
        self.connections = 0
        self._n = itertools.count()
        self._lp = _Loop()
        self.server = self._lp.call(self._start())
        self.port = self.server.sockets[0].getsockname()[1]

    async def _start(self):
        return await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=2048)

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                req = await reader.readuntil(b"\r\n\r\n")
                n = next(self._n)
                self.count += 1
                mode = self.mode
                if mode == "hang":
                    await asyncio.sleep(30)
                    return
                if mode == "close":
                    break
                if mode == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                status = int(mode.split(":")[1]) if mode.startswith("status:") else 200
                keep = b"connection: keep-alive" in req.lower()
                body = b"hello\n"
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nX-LB: %s\r\nX-Backend: %s\r\n"
                             b"Connection: %s\r\n\r\n%s" % (
                                 status, len(body), self.lbs[n % len(self.lbs)].encode(),
                                 self.backends[n % len(self.backends)].encode(),
                                 b"keep-alive" if keep else b"close", body))
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    def close(self):
        self.server.close()
        self._lp.stop()


class _DnsProto(asyncio.DatagramProtocol):
    def __init__(self, stub):
        self.stub = stub

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        stub = self.stub
        stub.queries += 1
        if stub.mode == "drop":
            return
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        if stub.mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif stub.mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
        elif stub.mode == "ok":
            r.answer.append(dns.rrset.from_text(q.question[0].name, stub.ttl, "IN", "A", *stub.ips))
        self.transport.sendto(r.to_wire(), addr)


class StubDns:
    """mode: "ok" (A records ips with ttl), "drop", "servfail", "nxdomain", "nodata"."""

    def __init__(self, ips=("127.0.0.1",), ttl=60):
        self.mode = "ok"
        self.ips, self.ttl = list(ips), ttl
        self.queries = 0
        self._lp = _Loop()
        self.transport, _ = self._lp.call(self._lp.loop.create_datagram_endpoint(
            lambda: _DnsProto(self), local_addr=("127.0.0.1", 0)))
        self.port = self.transport.get_extra_info("sockname")[1]

    def close(self):
        self._lp.loop.call_soon_threadsafe(self.transport.close)
        self._lp.stop()


def free_port() -> int:
    """A loopback TCP port with nothing listening (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
