"""Health-gated anycast announcer for one LB node.

Polls the local LB server's readiness endpoint and enables BIRD's `vip` static protocol (so BGP
announces the anycast VIP) after `rise` consecutive successes, disables it after `fall`
consecutive failures. The announcement therefore follows the LB process: if the LB crashes,
hangs or drains, the router loses this nexthop within about fall x interval. Exits withdrawing.

Usage: python -m lbapp.announcer --ready-url http://127.0.0.1:9100/-/ready \
          --bird-socket /run/lblab/LAB/nodes/lb1/bird.ctl [--protocol vip] [--interval-ms 100]
          [--timeout-ms 80] [--rise 2] [--fall 2] [--state-file FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from urllib.parse import urlsplit

from lbapp.birdctl import BirdControl
from lbapp.healthwatch import Watcher, add_timing_options, log, write_atomic

REASSERT_S = 1.0


def probe(host: str, port: int, path: str, timeout: float) -> tuple[bool, str]:
    """One readiness check: True only for an HTTP 200 within the timeout."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            head = sock.recv(64)
    except socket.timeout:
        return False, "timeout"
    except ConnectionRefusedError:
        return False, "refused"
    except OSError as exc:
        return False, exc.strerror or type(exc).__name__
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[1] == b"200":
        return True, "200"
    return False, parts[1].decode(errors="replace") if len(parts) >= 2 else "bad response"


class Announcer(Watcher):
    def __init__(self, args: argparse.Namespace):
        super().__init__(args.interval, args.rise, args.fall)
        url = urlsplit(args.ready_url)
        self.host, self.port = url.hostname, url.port or 80
        self.path = url.path or "/"
        self.bird = BirdControl(args.bird_socket)
        self.protocol = args.protocol
        self.timeout = args.timeout
        self.state_file = args.state_file
        self.last_assert = 0.0

    def write_state(self, reason: str) -> None:
        if self.state_file:
            write_atomic(self.state_file, json.dumps({
                "announcing": self.state.up, "since": time.time(), "reason": reason, "pid": os.getpid()}))

    def apply(self) -> bool:
        verb = "enable" if self.state.up else "disable"
        try:
            self.bird.command(f"{verb} {self.protocol}")
            self.last_assert = time.monotonic()
            return True
        except (OSError, ConnectionError, RuntimeError) as exc:
            log(f"BIRD control failed ({verb} {self.protocol}): {exc}")
            return False

    def check(self) -> tuple[bool, str]:
        return probe(self.host, self.port, self.path, self.timeout)

    def changed(self, detail: str) -> None:
        needed = self.state.rise if self.state.up else self.state.fall
        log(f"{'announce' if self.state.up else 'withdraw'}: LB readiness {detail} ({needed} in a row)")
        self.apply()
        self.write_state(detail)

    def ticked(self) -> None:
        # BIRD may have restarted (its config starts with the protocol disabled): re-assert.
        if time.monotonic() - self.last_assert >= REASSERT_S:
            self.apply()

    def started(self) -> None:
        log(f"watching {self.host}:{self.port}{self.path} every {self.interval * 1000:.0f} ms "
            f"(rise {self.state.rise}, fall {self.state.fall}); BIRD protocol {self.protocol}")
        self.apply()  # start withdrawn
        self.write_state("starting")

    def stopped(self) -> None:
        self.state.up = False
        self.apply()
        self.write_state("stopped")
        log("stopped: withdrawn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lbapp.announcer", description=__doc__.splitlines()[0])
    parser.add_argument("--ready-url", required=True)
    parser.add_argument("--bird-socket", required=True)
    parser.add_argument("--protocol", default="vip")
    add_timing_options(parser, interval_ms=100, timeout_ms=80, rise=2, fall=2)
    parser.add_argument("--state-file")
    args = parser.parse_args(argv)
    if not urlsplit(args.ready_url).hostname:
        parser.error(f"--ready-url {args.ready_url!r} has no host")
    return Announcer(args).run()


if __name__ == "__main__":
    sys.exit(main())
