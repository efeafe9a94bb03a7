"""Command line of the backend app: listen, serve, shut down cleanly on SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import uvloop

from lbapp.backend.app import AppState, BackendProtocol
from lbapp.backend.control import start_control

log = logging.getLogger("lbapp.backend")


def parse_listen(text: str) -> tuple[str, int]:
    """'0.0.0.0:8080' or '[::]:8080' -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--listen {text!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lbapp.backend", description=__doc__)
    parser.add_argument("--name", required=True, help="backend name, sent as X-Backend")
    parser.add_argument("--listen", type=parse_listen, action="append", required=True,
                        metavar="HOST:PORT", help="address to listen on (repeatable)")
    parser.add_argument("--control-listen", type=parse_listen, metavar="HOST:PORT",
                        help="run-time knobs (GET/PATCH/DELETE /-/knobs) on this address only; "
                             "must differ from every --listen")
    parser.add_argument("--idle-timeout", type=float, default=75.0, metavar="SECONDS",
                        help="close keep-alive connections idle this long (default 75, "
                             "longer than the LB's upstream pool idle timeout)")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="on SIGTERM, wait this long for in-flight requests")
    parser.add_argument("--log-level", default="INFO")
    return parser


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    app = AppState(args.name, args.idle_timeout)
    control = None
    if args.control_listen:  # first: whoever sees the data port answer can set knobs
        control = await start_control(app, *args.control_listen)
        log.info("backend %s knobs on %s:%d", args.name, *args.control_listen)
    servers = []
    for host, port in args.listen:
        servers.append(await loop.create_server(lambda: BackendProtocol(app), host, port,
                                                reuse_address=True, backlog=1024))
        log.info("backend %s listening on %s:%d", args.name, host, port)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    log.info("backend %s shutting down", args.name)
    app.shutting_down = True
    for server in servers:
        server.close()
    deadline = loop.time() + args.shutdown_timeout
    while app.connections and loop.time() < deadline:
        for conn in list(app.connections):
            conn.close_if_idle()
        await asyncio.sleep(0.02)
    for conn in list(app.connections):
        if conn.transport is not None:
            conn.transport.abort()
    if control is not None:
        await control.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.control_listen and args.control_listen[1] in {port for _, port in args.listen}:
        parser.error("--control-listen must use a port no --listen uses (knobs stay off the "
                     "data plane)")
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(args))
