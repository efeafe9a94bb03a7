"""A TCP forwarder from the lab host's loopback to one address:port inside a lab node's namespace,
so a browser on the lab host reaches the console without any route to the lab.

    python -m lblab.lab.forwarder --listen 127.0.0.1:8080 --netns reference-console \\
        --upstream 10.2.0.50:8080 --port-file /run/lblab/reference/nodes/console/forwarder.port

It binds its listening socket in the namespace it starts in (the lab host's), then moves itself
into the node's namespace, where it makes every upstream connection: lab addresses stay inside
the lab, and the forwarder reaches exactly one address:port (it never routes). If the port is
taken (another lab's forwarder), it takes the port it had before (a restart), else any free one,
and writes the port it got to ``--port-file``. Bounded: at most ``--max-connections`` at once
(more are closed on accept), a connect timeout, and an idle timeout per connection (no byte
either way; the console's live view sends one event a second).
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from lblab.lab import netns

log = logging.getLogger("lblab.forwarder")
CHUNK = 64 * 1024
LOG_EVERY = 10.0


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    try:
        address = ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be IPv4:PORT") from None
    if not sep or not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: port must be 1-65535")
    return str(address), number


def loopback(text: str) -> tuple[str, int]:
    host, port = host_port(text)
    if not ipaddress.IPv4Address(host).is_loopback:
        raise argparse.ArgumentTypeError(f"{text!r}: the forwarder listens on loopback only")
    return host, port


def bounded(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse


def previous_port(path: Path) -> int | None:
    try:
        port = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


def bind_listener(host: str, ports: list[int]) -> socket.socket:
    """A listening socket on the first of ``ports`` that is free (0: any)."""
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or port == ports[-1]:
                raise
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise OSError(errno.EADDRINUSE, f"no free port among {ports}")


def write_port(path: Path, port: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


class Forwarder:
    def __init__(self, upstream: tuple[str, int], max_connections: int, connect_timeout: float,
                 idle_timeout: float) -> None:
        self.upstream = upstream
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.active = 0
        self.refused_since_log = 0
        self.upstream_failures = 0
        self.last_failure_log = -LOG_EVERY

    def upstream_failed(self, exc: BaseException) -> None:
        """Logged at most every LOG_EVERY seconds (a browser retrying must not flood the log)."""
        self.upstream_failures += 1
        now = time.monotonic()
        if now - self.last_failure_log >= LOG_EVERY:
            log.warning("upstream %s:%d: %s (%d failed connects since the last report)",
                        *self.upstream, exc or "connect timed out", self.upstream_failures)
            self.last_failure_log, self.upstream_failures = now, 0

    async def handle(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        if self.active >= self.max_connections:
            self.refused_since_log += 1
            if self.refused_since_log in (1, 100):
                log.warning("at the cap of %d connections: closing new ones (%d so far)",
                            self.max_connections, self.refused_since_log)
            client_writer.close()
            return
        self.active += 1
        try:
            await self._forward(client_reader, client_writer)
        finally:
            self.active -= 1
            if self.active < self.max_connections:
                self.refused_since_log = 0

    async def _forward(self, client_reader, client_writer) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.upstream_failed(exc)
            client_writer.close()
            return
        last = [time.monotonic()]

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(CHUNK):
                    last[0] = time.monotonic()
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                pass

        async def idle_watch() -> None:
            while time.monotonic() - last[0] < self.idle_timeout:
                await asyncio.sleep(min(1.0, self.idle_timeout))

        pipes = [asyncio.ensure_future(pipe(client_reader, up_writer)),
                 asyncio.ensure_future(pipe(up_reader, client_writer))]
        watch = asyncio.ensure_future(idle_watch())
        both = asyncio.gather(*pipes)
        await asyncio.wait([both, watch], return_when=asyncio.FIRST_COMPLETED)
        for task in (*pipes, watch):
            task.cancel()
        await asyncio.gather(*pipes, watch, return_exceptions=True)
        for writer in (client_writer, up_writer):
            writer.close()


async def serve(listener: socket.socket, forwarder: Forwarder) -> None:
    server = await asyncio.start_server(forwarder.handle, sock=listener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lblab.lab.forwarder",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=loopback, required=True, metavar="127.0.0.1:PORT",
                        help="preferred address on the lab host (loopback only)")
    parser.add_argument("--netns", required=True, help="the node's named namespace")
    parser.add_argument("--upstream", type=host_port, required=True, metavar="IP:PORT")
    parser.add_argument("--port-file", type=Path, required=True,
                        help="where the port it listens on is written")
    parser.add_argument("--max-connections", type=bounded(1, 1024), default=64)
    parser.add_argument("--connect-timeout-ms", type=bounded(10, 60_000), default=2000)
    parser.add_argument("--idle-timeout-s", type=bounded(1, 3600), default=120)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s forwarder %(levelname)s %(message)s")
    host, preferred = args.listen
    ports = list(dict.fromkeys(p for p in (previous_port(args.port_file), preferred, 0) if p is not None))
    try:
        listener = bind_listener(host, ports)
        netns.join(args.netns)    # from here on, every new socket is made inside the lab node
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    port = listener.getsockname()[1]
    write_port(args.port_file, port)
    log.info("listening on %s:%d -> %s:%d in namespace %s (at most %d connections)", host, port,
             *args.upstream, args.netns, args.max_connections)
    forwarder = Forwarder(args.upstream, args.max_connections, args.connect_timeout_ms / 1000,
                          args.idle_timeout_s)
    asyncio.run(serve(listener, forwarder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
