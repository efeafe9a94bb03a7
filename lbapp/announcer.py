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
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

from lbapp.birdctl import BirdControl

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


class Announcer:
    def __init__(self, args: argparse.Namespace):
        url = urlsplit(args.ready_url)
        self.host, self.port = url.hostname, url.port or 80
        self.path = url.path or "/"
        self.bird = BirdControl(args.bird_socket)
        self.protocol = args.protocol
        self.interval = args.interval_ms / 1000
        self.timeout = args.timeout_ms / 1000
        self.rise, self.fall = args.rise, args.fall
        self.state_file = args.state_file
        self.announcing = False
        self.streak = 0          # consecutive results disagreeing with the current state
        self.last_assert = 0.0
        self.stopping = False

    def log(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {message}", flush=True)

    def write_state(self, reason: str) -> None:
        if not self.state_file:
            return
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({"announcing": self.announcing, "since": time.time(), "reason": reason,
                       "pid": os.getpid()}, handle)
        os.replace(tmp, self.state_file)

    def apply(self) -> bool:
        verb = "enable" if self.announcing else "disable"
        try:
            self.bird.command(f"{verb} {self.protocol}")
            self.last_assert = time.monotonic()
            return True
        except (OSError, ConnectionError, RuntimeError) as exc:
            self.log(f"BIRD control failed ({verb} {self.protocol}): {exc}")
            return False

    def tick(self) -> None:
        ok, detail = probe(self.host, self.port, self.path, self.timeout)
        if ok == self.announcing:
            self.streak = 0
        else:
            self.streak += 1
            needed = self.rise if ok else self.fall
            if self.streak >= needed:
                self.announcing = ok
                self.streak = 0
                action = "announce" if ok else "withdraw"
                self.log(f"{action}: LB readiness {detail} ({needed} in a row)")
                self.apply()
                self.write_state(detail)
                return
        # BIRD may have restarted (its config starts with the protocol disabled): re-assert.
        if time.monotonic() - self.last_assert >= REASSERT_S:
            self.apply()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.log(f"watching {self.host}:{self.port}{self.path} every {self.interval * 1000:.0f} ms "
                 f"(rise {self.rise}, fall {self.fall}); BIRD protocol {self.protocol}")
        self.apply()  # start withdrawn
        self.write_state("starting")
        next_tick = time.monotonic()
        while not self.stopping:
            self.tick()
            next_tick += self.interval
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_tick = time.monotonic()
        self.announcing = False
        self.apply()
        self.write_state("stopped")
        self.log("stopped: withdrawn")
        return 0

    def _stop(self, *_):
        self.stopping = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lbapp.announcer", description=__doc__.splitlines()[0])
    parser.add_argument("--ready-url", required=True)
    parser.add_argument("--bird-socket", required=True)
    parser.add_argument("--protocol", default="vip")
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--timeout-ms", type=int, default=80)
    parser.add_argument("--rise", type=int, default=2)
    parser.add_argument("--fall", type=int, default=2)
    parser.add_argument("--state-file")
    args = parser.parse_args(argv)
    if not urlsplit(args.ready_url).hostname:
        parser.error(f"--ready-url {args.ready_url!r} has no host")
    return Announcer(args).run()


if __name__ == "__main__":
    sys.exit(main())
