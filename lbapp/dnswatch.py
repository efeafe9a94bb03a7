"""Fast DNS health watch for one DNS node: keepalived moves the DNS VIP off a hung CoreDNS in well
under a second.

keepalived runs a vrrp_script at most once a second, so a CoreDNS that is alive but silent (a
SIGSTOP, a deadlock) kept the VIP for over a second. This watch asks the local CoreDNS a real
question over UDP every `interval` and writes its verdict to a file keepalived tracks with
`track_file ... weight 0 reverse`; keepalived watches the file with inotify and puts the node in
FAULT (the peer takes the VIP) the moment the file says down.

File values (`weight 0 reverse`): "1" = CoreDNS answers, "0" = it does not. A missing, empty or
unreadable file reads as 0 to keepalived (FAULT). The watch writes the file when its verdict
changes and again every second, so a file deleted or overwritten by anything else is put right.
If the watch itself is killed, its file keeps the last verdict: keepalived's once-a-second script
check stays in place as the slow backstop.

Usage: python -m lbapp.dnswatch --name lb.payment.example --track-file FILE [--server 127.0.0.1]
          [--port 53] [--qtype A] [--interval-ms 50] [--timeout-ms 100] [--rise 5] [--fall 3]
          [--state-file FILE]
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from lbapp.healthwatch import Watcher, add_timing_options, log, write_atomic

HEALTHY, UNHEALTHY = "1\n", "0\n"
REWRITE_S = 1.0


def judge(response: dns.message.Message, rdtype: dns.rdatatype.RdataType) -> tuple[bool, str]:
    """A healthy answer is NOERROR with at least one record of the asked type."""
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return False, dns.rcode.to_text(rcode)
    if not any(rrset.rdtype == rdtype for rrset in response.answer):
        return False, "no answer"
    return True, "answered"


class DnsProbe:
    """One UDP question per call on a connected socket, so a closed port (CoreDNS gone) fails at
    once with ICMP port unreachable instead of waiting for the timeout. Late answers to earlier
    questions are skipped by their ID."""

    def __init__(self, server: str, port: int, name: str, qtype: str, timeout: float):
        self.server, self.port, self.timeout = server, port, timeout
        self.qname = dns.name.from_text(name)
        self.rdtype = dns.rdatatype.from_text(qtype)
        family = socket.AF_INET6 if ipaddress.ip_address(server).version == 6 else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect((server, port))

    def __call__(self) -> tuple[bool, str]:
        query = dns.message.make_query(self.qname, self.rdtype)
        try:
            response = dns.query.udp(query, self.server, timeout=self.timeout, port=self.port,
                                     sock=self.sock, ignore_errors=True)
        except dns.exception.Timeout:
            return False, "timeout"
        except ConnectionRefusedError:
            return False, "port unreachable"
        except OSError as exc:
            return False, exc.strerror or type(exc).__name__
        except dns.exception.DNSException as exc:
            return False, f"bad response ({type(exc).__name__})"
        return judge(response, self.rdtype)

    def close(self) -> None:
        self.sock.close()


class DnsWatch(Watcher):
    def __init__(self, probe: DnsProbe, track_file: Path, state_file: Path | None,
                 interval: float, rise: int, fall: int):
        super().__init__(interval, rise, fall)
        self.probe = probe
        self.track_file, self.state_file = track_file, state_file
        self.written = 0.0

    def check(self) -> tuple[bool, str]:
        return self.probe()

    def publish(self, reason: str) -> None:
        # the state file first: whoever sees the track file change finds the reason already there
        if self.state_file:
            write_atomic(self.state_file, json.dumps({
                "healthy": self.state.up, "since": time.time(), "reason": reason, "pid": os.getpid()}))
        self.write_verdict()

    def write_verdict(self) -> None:
        write_atomic(self.track_file, HEALTHY if self.state.up else UNHEALTHY)
        self.written = time.monotonic()

    def ticked(self) -> None:
        # Rewritten now and then, so a file deleted or overwritten by someone else is put right
        # within a second (keepalived reads it again and finds no change: no state change).
        if time.monotonic() - self.written >= REWRITE_S:
            self.write_verdict()

    def changed(self, detail: str) -> None:
        needed = self.state.rise if self.state.up else self.state.fall
        log(f"{'up' if self.state.up else 'down'}: {detail} ({needed} in a row)")
        self.publish(detail)

    def started(self) -> None:
        log(f"asking {self.probe.server}:{self.probe.port} for {self.probe.qname} "
            f"{dns.rdatatype.to_text(self.probe.rdtype)} every {self.interval * 1000:.0f} ms "
            f"(timeout {self.probe.timeout * 1000:.0f} ms, rise {self.state.rise}, "
            f"fall {self.state.fall}); verdict in {self.track_file}")
        self.publish("starting")

    def stopped(self) -> None:
        self.state.up = False
        self.publish("stopped")
        self.probe.close()
        log("stopped: down")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lbapp.dnswatch", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the name to ask for (the service name)")
    parser.add_argument("--qtype", default="A")
    parser.add_argument("--server", default="127.0.0.1", help="CoreDNS address to ask (an IP)")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--track-file", required=True, type=Path,
                        help="file keepalived tracks: 1 = answers, 0 = does not")
    parser.add_argument("--state-file", type=Path, help="JSON: healthy, since, reason, pid")
    # fall 3: a hang is noticed ~0.3 s in (the VIP moves ~0.07 s later); a single slow answer (seen
    # every few minutes on a loaded 2-core machine) or two in a row (once in ~40 min) is not a hang
    add_timing_options(parser, interval_ms=50, timeout_ms=100, rise=5, fall=3)
    args = parser.parse_args(argv)
    try:
        dns.name.from_text(args.name)
    except dns.exception.DNSException as exc:
        parser.error(f"--name {args.name!r}: {exc}")
    try:
        dns.rdatatype.from_text(args.qtype)
    except dns.exception.DNSException:
        parser.error(f"--qtype {args.qtype!r} is not a DNS record type")
    try:
        ipaddress.ip_address(args.server)
    except ValueError:
        parser.error(f"--server {args.server!r} is not an IP address")
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is outside 1..65535")
    for option in ("track_file", "state_file"):
        path = getattr(args, option)
        if path is not None and not path.parent.is_dir():
            parser.error(f"--{option.replace('_', '-')} {path}: directory {path.parent} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    probe = DnsProbe(args.server, args.port, args.name, args.qtype, args.timeout)
    return DnsWatch(probe, args.track_file, args.state_file, args.interval, args.rise, args.fall).run()


if __name__ == "__main__":
    sys.exit(main())
