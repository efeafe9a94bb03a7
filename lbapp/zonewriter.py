"""Zone writer for one DNS node (scaling `dns`): keeps the zone file CoreDNS serves equal to the
LB records in etcd.

Reads every record under the prefix, writes the zone and the weight file, then follows etcd's
watch from the next revision and rewrites both on every change. The zone's SOA serial is the
etcd revision of the change, so it only grows (CoreDNS, reloading the file every 100 ms, serves
a zone only when its serial grew). A record that is not {"address": IPv4, "weight": 1..255} is
left out and named in the state file. While etcd cannot be reached the last zone stays served
and the writer retries; after a compaction it reads everything again.

Usage: python -m lbapp.zonewriter --etcd URL [URL...] --prefix /lblab/lb/payment/dns/
          --zone payment.example --name lb.payment.example --ns-address 192.168.1.100 --ttl 5
          --zone-file FILE --weights-file FILE [--state-file FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import sys
import time
from pathlib import Path

import dns.exception
import dns.name

from lbapp.dnsrecords import RecordError, build_weights, build_zone, parse_record, usable_records
from lbapp.etcd import Compacted, EtcdClient, EtcdError, KeyValue
from lbapp.healthwatch import check_output_paths, log, write_atomic

RETRY_S = 0.5
MAX_KEYS = 1024          # keys under the prefix beyond this are not even read into memory


class ZoneWriter:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.records: dict[str, KeyValue] = {}
        self.ignored: set[str] = set()
        self.serial = 0

    def apply(self, kv: KeyValue, deleted: bool) -> None:
        key = kv.key_text
        if deleted:
            self.records.pop(key, None)
            self.ignored.discard(key)
        elif key in self.records or len(self.records) < MAX_KEYS:
            self.records[key] = kv
        else:
            self.ignored.add(key)

    def write(self, revision: int) -> None:
        parsed: dict = {}
        rejected = {key: f"over {MAX_KEYS} keys under the prefix" for key in sorted(self.ignored)[:10]}
        for key, kv in sorted(self.records.items()):
            try:
                parsed[key] = parse_record(kv.value)
            except RecordError as exc:
                rejected[key] = str(exc)
        usable = usable_records(list(parsed.values()))
        for key, record in parsed.items():
            if record not in usable:
                rejected[key] = "not served: duplicate address or over the record limit"
        args = self.args
        self.serial = max(revision, self.serial + 1)
        write_atomic(args.weights_file, build_weights(args.name, usable))
        write_atomic(args.zone_file, build_zone(args.zone, args.name, args.ns_address, usable,
                                                args.ttl, self.serial))
        if rejected:
            log(f"left out: {'; '.join(f'{k}: {why}' for k, why in rejected.items())}")
        log(f"serial {self.serial}: {args.name} -> {', '.join(str(r.address) for r in usable) or 'nothing'}")
        if args.state_file:
            write_atomic(args.state_file, json.dumps({
                "serial": self.serial, "since": time.time(), "pid": os.getpid(),
                "answers": {str(r.address): r.weight for r in usable}, "rejected": rejected}))

    async def follow(self, etcd: EtcdClient) -> None:
        """One pass: read everything, write, then rewrite on every change until the watch ends."""
        snapshot = await etcd.range(self.args.prefix, prefix=True, limit=MAX_KEYS)
        self.records, self.ignored = {kv.key_text: kv for kv in snapshot.kvs}, set()
        self.write(snapshot.revision)
        async with etcd.watch(self.args.prefix, prefix=True, start_revision=snapshot.revision + 1) as watch:
            async for event in watch:
                self.apply(event.kv, event.type == "DELETE")
                self.write(event.kv.mod_revision)

    async def run(self, stop: asyncio.Event) -> None:
        async with EtcdClient(self.args.etcd) as etcd:
            while not stop.is_set():
                task = asyncio.ensure_future(self.follow(etcd))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not task.done():
                    task.cancel()
                    break
                try:
                    task.result()
                except Compacted:
                    log("watch compacted: reading every record again")
                    continue
                except (EtcdError, OSError) as exc:
                    log(f"etcd: {type(exc).__name__}: {exc}; the last zone stays, retrying")
                try:
                    await asyncio.wait_for(stop.wait(), RETRY_S)
                except TimeoutError:
                    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lbapp.zonewriter", description=__doc__.splitlines()[0])
    parser.add_argument("--etcd", nargs="+", required=True, metavar="URL")
    parser.add_argument("--prefix", required=True, help="etcd prefix of the records")
    parser.add_argument("--zone", required=True)
    parser.add_argument("--name", required=True, help="the name the records are answers for")
    parser.add_argument("--ns-address", required=True, help="the name server's address (ns.ZONE)")
    parser.add_argument("--ttl", type=int, default=5)
    parser.add_argument("--zone-file", required=True, type=Path)
    parser.add_argument("--weights-file", required=True, type=Path)
    parser.add_argument("--state-file", type=Path)
    args = parser.parse_args(argv)
    try:
        zone, name = dns.name.from_text(args.zone), dns.name.from_text(args.name)
    except dns.exception.DNSException as exc:
        parser.error(f"--zone/--name: {exc}")
    if not name.is_subdomain(zone) or name == zone:
        parser.error(f"--name {args.name} is not a name inside --zone {args.zone}")
    try:
        ipaddress.IPv4Address(args.ns_address)
    except ValueError:
        parser.error(f"--ns-address {args.ns_address!r} is not an IPv4 address")
    if not 0 <= args.ttl <= 86400:
        parser.error(f"--ttl {args.ttl} is outside 0..86400")
    if not args.prefix.startswith("/") or not args.prefix.endswith("/"):
        parser.error(f"--prefix {args.prefix!r} must start and end with '/'")
    check_output_paths(parser, args, "zone_file", "weights_file", "state_file")
    return args


async def amain(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log(f"following {args.prefix} for {args.name}; zone {args.zone_file}")
    await ZoneWriter(args).run(stop)
    log("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
