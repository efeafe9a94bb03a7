"""Health-gated announcer for one LB node: the LB server is offered to clients only while it is
ready, through whichever front end the lab's scaling mode uses.

Polls the local LB server's readiness endpoint; after `rise` consecutive successes it announces
the LB, after `fall` consecutive failures it withdraws it, so if the LB crashes, hangs or
drains, clients stop being sent to it within about fall x interval. Exits withdrawing. The
announcement goes through one channel:

  --bird-socket S [--protocol vip]  anycast: enable BIRD's static protocol, so BGP announces the VIP
  --track-file F                    VRRP: "1"/"0" in a file keepalived tracks (`weight 0 reverse`)
  --etcd URL... --record-key K --record-value JSON [--lease-ttl-s 2]
                                    DNS: the LB's record in etcd, on a lease the announcer keeps
                                    alive (a dead node's record expires with it)

Usage: python -m lbapp.announcer --ready-url http://127.0.0.1:9100/-/ready CHANNEL
          [--interval-ms 100] [--timeout-ms 80] [--rise 2] [--fall 2] [--state-file FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from typing import Protocol
from urllib.parse import urlsplit

from lbapp.birdctl import BirdControl
from lbapp.dnsrecords import EtcdRecord, RecordError, parse_record
from lbapp.healthwatch import TrackFile, Watcher, add_timing_options, log, write_atomic

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


class Channel(Protocol):
    """Where an announcement goes. `set` says up or down now (False if it could not); `refresh`
    runs after every check and keeps the announcement true (BIRD restarted, file clobbered,
    lease renewal)."""

    def describe(self) -> str: ...

    def set(self, up: bool) -> bool: ...

    def refresh(self, up: bool) -> None: ...

    def close(self) -> None: ...


class BirdProtocol:
    """Anycast: BIRD's static protocol holding the VIP route, enabled while up."""

    def __init__(self, socket_path: str, protocol: str):
        self.bird = BirdControl(socket_path)
        self.protocol = protocol
        self.last_assert = 0.0

    def describe(self) -> str:
        return f"BIRD protocol {self.protocol}"

    def set(self, up: bool) -> bool:
        verb = "enable" if up else "disable"
        try:
            self.bird.command(f"{verb} {self.protocol}")
            self.last_assert = time.monotonic()
            return True
        except (OSError, ConnectionError, RuntimeError) as exc:
            log(f"BIRD control failed ({verb} {self.protocol}): {exc}")
            return False

    def refresh(self, up: bool) -> None:
        # BIRD may have restarted (its config starts with the protocol disabled): re-assert.
        if time.monotonic() - self.last_assert >= REASSERT_S:
            self.set(up)

    def close(self) -> None:
        pass


class Announcer(Watcher):
    def __init__(self, args: argparse.Namespace, channel: Channel):
        super().__init__(args.interval, args.rise, args.fall)
        url = urlsplit(args.ready_url)
        self.host, self.port = url.hostname, url.port or 80
        self.path = url.path or "/"
        self.channel = channel
        self.timeout = args.timeout
        self.state_file = args.state_file

    def write_state(self, reason: str) -> None:
        if self.state_file:
            write_atomic(self.state_file, json.dumps({
                "announcing": self.state.up, "since": time.time(), "reason": reason, "pid": os.getpid()}))

    def check(self) -> tuple[bool, str]:
        return probe(self.host, self.port, self.path, self.timeout)

    def changed(self, detail: str) -> None:
        needed = self.state.rise if self.state.up else self.state.fall
        log(f"{'announce' if self.state.up else 'withdraw'}: LB readiness {detail} ({needed} in a row)")
        self.channel.set(self.state.up)
        self.write_state(detail)

    def ticked(self) -> None:
        self.channel.refresh(self.state.up)

    def started(self) -> None:
        log(f"watching {self.host}:{self.port}{self.path} every {self.interval * 1000:.0f} ms "
            f"(rise {self.state.rise}, fall {self.state.fall}); announcing through {self.channel.describe()}")
        self.channel.set(False)  # start withdrawn
        self.write_state("starting")

    def stopped(self) -> None:
        self.state.up = False
        self.channel.set(False)
        self.channel.close()
        self.write_state("stopped")
        log("stopped: withdrawn")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lbapp.announcer", description=__doc__.splitlines()[0])
    parser.add_argument("--ready-url", required=True)
    channel = parser.add_argument_group("channel (exactly one)")
    channel.add_argument("--bird-socket", help="anycast: BIRD's control socket")
    channel.add_argument("--protocol", default="vip", help="the BIRD protocol to switch (default vip)")
    channel.add_argument("--track-file", help="VRRP: the file keepalived tracks")
    channel.add_argument("--etcd", nargs="+", metavar="URL", help="DNS: etcd client URLs")
    channel.add_argument("--record-key", help="DNS: the etcd key of this LB's record")
    channel.add_argument("--record-value", help='DNS: the record, {"address": IP, "weight": 1..255}')
    channel.add_argument("--lease-ttl-s", type=int, default=2,
                         help="DNS: the record's lease; a silent announcer's record expires after it")
    add_timing_options(parser, interval_ms=100, timeout_ms=80, rise=2, fall=2)
    parser.add_argument("--state-file")
    args = parser.parse_args(argv)
    if not urlsplit(args.ready_url).hostname:
        parser.error(f"--ready-url {args.ready_url!r} has no host")
    given = [name for name, value in (("--bird-socket", args.bird_socket), ("--track-file", args.track_file),
                                      ("--etcd", args.etcd)) if value]
    if len(given) != 1:
        parser.error("give exactly one channel: --bird-socket, --track-file or --etcd "
                     + (f"(got {' and '.join(given)})" if given else "(got none)"))
    if args.etcd:
        if not args.record_key or not args.record_value:
            parser.error("--etcd needs --record-key and --record-value")
        try:
            parse_record(args.record_value)
        except RecordError as exc:
            parser.error(f"--record-value: {exc}")
        if not 1 <= args.lease_ttl_s <= 3600:
            parser.error(f"--lease-ttl-s {args.lease_ttl_s} is outside 1..3600")
    return args


def make_channel(args: argparse.Namespace) -> Channel:
    if args.bird_socket:
        return BirdProtocol(args.bird_socket, args.protocol)
    if args.track_file:
        return TrackFile(args.track_file, rewrite_s=REASSERT_S)
    return EtcdRecord(args.etcd, args.record_key, args.record_value, args.lease_ttl_s)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return Announcer(args, make_channel(args)).run()


if __name__ == "__main__":
    sys.exit(main())
