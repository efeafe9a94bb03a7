"""A backend that records exactly the requests it parses, for the abuse tests.

It parses with h11 (a strict HTTP/1.1 parser that is not the LB's llhttp), so the tests see the
backend's framing of what the LB forwarded, not the LB's. Every request head is recorded as it
is parsed; each complete request is answered 200 with a JSON body naming it (sequence number,
target, its ``X-Tag``), so that a response reaching the wrong client shows. Runs its own event
loop in a thread; the tests read ``requests`` directly."""
from __future__ import annotations

import array
import asyncio
import fcntl
import json
import termios
import threading
from dataclasses import dataclass, field

import h11


@dataclass
class Recorded:
    conn: int                      # which backend connection it arrived on
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    complete: bool = False         # the whole body arrived

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n == name.lower()]


@dataclass
class _State:
    requests: list[Recorded] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # what h11 refused, per connection
    connections: int = 0


class _Connection(asyncio.Protocol):
    def __init__(self, backend: "RecordingBackend") -> None:
        self.backend = backend
        self.h11 = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.current: Recorded | None = None
        self.id = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        state = self.backend.state
        state.connections += 1
        self.id = state.connections
        self.backend.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.backend.open.discard(self)

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        self._events()

    def eof_received(self) -> bool:
        self.h11.receive_data(b"")
        self._events()
        return False

    def _events(self) -> None:
        state = self.backend.state
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                state.errors.append(f"conn {self.id}: {exc}")
                self.transport.abort()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.current = Recorded(self.id, event.method, event.target,
                                        [(n.lower(), v) for n, v in event.headers.raw_items()])
                state.requests.append(self.current)
            elif isinstance(event, h11.Data):
                self.current.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.current.complete = True
                self._answer(len(state.requests), self.current)
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _answer(self, number: int, request: Recorded) -> None:
        tag = request.header(b"x-tag")
        body = json.dumps({"n": number, "target": request.target.decode("latin-1"),
                           "tag": tag[0].decode("latin-1") if tag else None}).encode()
        out = self.h11.send(h11.Response(status_code=200, headers=[
            ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]))
        if request.method != b"HEAD":
            out += self.h11.send(h11.Data(data=body))
        out += self.h11.send(h11.EndOfMessage())
        self.transport.write(out)
        if self.h11.our_state is h11.MUST_CLOSE:
            self.transport.close()
        else:
            self.h11.start_next_cycle()


class RecordingBackend:
    def __init__(self) -> None:
        self.state = _State()
        self.open: set[_Connection] = set()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> "RecordingBackend":
        self._thread.start()
        self._server = self._call(self._listen())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _listen(self) -> asyncio.AbstractServer:
        return await self._loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)

    def _call(self, coro, timeout: float = 5.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for conn in list(self.open):
                conn.transport.abort()
        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def requests(self) -> list[Recorded]:
        return list(self.state.requests)

    def settled(self) -> bool:
        """True when no open connection has bytes waiting to be read: everything the LB has
        written so far (on loopback, in the socket buffer once written) has been parsed."""
        async def check() -> bool:
            for conn in self.open:
                sock = conn.transport.get_extra_info("socket")
                if sock is None:
                    continue
                pending = array.array("i", [0])
                fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
                if pending[0]:
                    return False
            return True
        return self._call(check())
