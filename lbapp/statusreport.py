"""The status reporter of one node: what the node's own components say about it, kept in etcd for
the console's live view (``/lblab/status/...``, ``lbapp.keys``).

- ``--announce-state FILE``: the announcer's state file (it rewrites it atomically on every
  change) -> ``announce/<node>`` = {"announced": bool, or null when the announcer is not
  running, "since", "reason", "at"}.
- ``--dns-vip ADDRESS``: whether the address is on one of this node's interfaces (the kernel's
  word, not keepalived's) -> ``dns_vip`` = {"address", "holder": node, "at"} while it is; a
  node that loses the VIP deletes the key if it still names it.

The source is read every ``--interval-ms`` (a stat or a netlink dump: cheap); a value is written
when it changes, and again every ``--refresh-ms`` ("at": when it was written). Every key is on
the reporter's lease (``--ttl-s``, renewed every third of it, which costs etcd no raft write):
when the node dies or is cut off, its reports vanish instead of going stale. A clean stop revokes
the lease. etcd being away is logged once and retried.

    python -m lbapp.statusreport --node lb1 --etcd http://10.2.0.11:2379,... \\
        --announce-state /run/lblab/LAB/nodes/lb1/announcer.state
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

from pyroute2 import AsyncIPRoute

from lbapp import keys
from lbapp.etcd import Compare, EtcdClient, EtcdError, LeaseNotFound, Op

log = logging.getLogger("lbapp.statusreport")
Source = Callable[[], Awaitable["dict | None"]]


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def announce_source(state_file: Path) -> Source:
    """The announcer's word on whether this node announces the anycast VIP."""
    async def read() -> dict:
        try:
            doc = json.loads(state_file.read_text())
        except FileNotFoundError:
            return {"announced": None, "reason": "no announcer state yet"}
        except (OSError, ValueError) as exc:
            return {"announced": None, "reason": f"unreadable announcer state: {exc}"}
        if not isinstance(doc, dict) or not isinstance(doc.get("announcing"), bool):
            return {"announced": None, "reason": "announcer state without 'announcing'"}
        if not pid_alive(doc.get("pid")):
            return {"announced": None, "reason": "announcer not running"}
        return {"announced": doc["announcing"], "since": doc.get("since"),
                "reason": str(doc.get("reason", ""))[:200]}
    return read


async def local_addresses() -> set[str]:
    """Every IPv4 address on this namespace's interfaces, as the kernel has them."""
    async with AsyncIPRoute() as ipr:
        return {str(a.get("IFA_LOCAL") or a.get("IFA_ADDRESS"))
                async for a in await ipr.get_addr(family=socket.AF_INET)}


def vip_source(address: str, node: str,
               addresses: Callable[[], Awaitable[set[str]]] = local_addresses) -> Source:
    """{"address", "holder": node} while the address is on this node, else None."""
    async def read() -> dict | None:
        return {"address": address, "holder": node} if address in await addresses() else None
    return read


class Reporter:
    def __init__(self, etcd: EtcdClient, sources: dict[str, Source], ttl: int,
                 refresh: float) -> None:
        self.etcd, self.sources, self.ttl, self.refresh = etcd, sources, ttl, refresh
        self.lease: int | None = None
        self.written: dict[str, dict | None] = {}   # key -> the value last written (sans "at")
        self.last_write = self.last_renewal = -float("inf")
        self.failing = False

    async def _lease(self) -> int:
        if self.lease is not None:
            if await self.etcd.lease_keepalive(self.lease) > 0:
                return self.lease
            log.warning("lease %x expired; taking a new one", self.lease)
            self.written.clear()    # its keys are gone: write everything again
        self.lease = (await self.etcd.lease_grant(self.ttl)).id
        return self.lease

    async def _put(self, key: str, value: dict | None, lease: int) -> None:
        if value is not None:
            await self.etcd.put(key, json.dumps({**value, "at": round(time.time(), 3)}),
                                lease=lease)
            return
        kv = await self.etcd.get(key)
        if kv is not None and kv.lease == lease:   # still our claim: take it back
            await self.etcd.txn([Compare("mod_revision", key, "=", kv.mod_revision)],
                                [Op.delete(key)])

    async def tick(self) -> None:
        try:
            values = {key: await source() for key, source in self.sources.items()}
        except OSError as exc:
            log.warning("reading the node's state: %s", exc)
            return
        now = time.monotonic()
        rewrite = now - self.last_write >= self.refresh
        changed = {k: v for k, v in values.items() if rewrite or self.written.get(k, ...) != v}
        if not changed and now - self.last_renewal < self.ttl / 3:
            return
        try:
            lease = await self._lease()
            self.last_renewal = now
            for key, value in changed.items():
                await self._put(key, value, lease)
                self.written[key] = value
        except LeaseNotFound:
            self.lease = None
            self.written.clear()
            return
        except EtcdError as exc:
            if not self.failing:
                log.warning("etcd: %s; retrying", exc)
            self.failing = True
            return
        if self.failing:
            log.info("etcd answers again")
        self.failing = False
        if rewrite:
            self.last_write = now

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.tick()
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
        if self.lease is not None:
            try:
                await self.etcd.lease_revoke(self.lease)
            except EtcdError as exc:
                log.warning("revoke on stop: %s (the reports expire with the lease)", exc)


def positive(low: int, high: int):
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be a whole number in {low}..{high}")
        return int(text)
    return parse


def ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lbapp.statusreport",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--node", required=True)
    parser.add_argument("--etcd", required=True, metavar="URL,URL...")
    parser.add_argument("--announce-state", type=Path, metavar="FILE")
    parser.add_argument("--dns-vip", type=ipv4, metavar="ADDRESS")
    parser.add_argument("--interval-ms", type=positive(20, 60_000), default=200)
    parser.add_argument("--refresh-ms", type=positive(100, 600_000), default=10_000)
    parser.add_argument("--ttl-s", type=positive(2, 600), default=3)
    parser.add_argument("--etcd-timeout-ms", type=positive(10, 60_000), default=500)
    args = parser.parse_args(argv)
    if args.announce_state is None and args.dns_vip is None:
        parser.error("nothing to report: give --announce-state and/or --dns-vip")
    if not keys.SEGMENT.match(args.node):
        parser.error(f"--node {args.node!r}: letters, digits, '_', '.', '-' only")
    return args


async def amain(args: argparse.Namespace) -> int:
    sources: dict[str, Source] = {}
    if args.announce_state is not None:
        sources[keys.announce_status_key(args.node)] = announce_source(args.announce_state)
    if args.dns_vip is not None:
        sources[keys.dns_vip_status_key()] = vip_source(args.dns_vip, args.node)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        etcd = EtcdClient(args.etcd.split(","), timeout=args.etcd_timeout_ms / 1000)
    except ValueError as exc:
        log.error("--etcd: %s", exc)
        return 2
    log.info("reporting %s every %d ms (refresh %d ms, lease %d s)", ", ".join(sources),
             args.interval_ms, args.refresh_ms, args.ttl_s)
    async with etcd:
        await Reporter(etcd, sources, args.ttl_s, args.refresh_ms / 1000).run(
            args.interval_ms / 1000, stop)
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s statusreport %(levelname)s %(message)s")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
