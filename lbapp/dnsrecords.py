"""DNS records of LB servers (scaling `dns`): the name resolves to every healthy LB server's own
address. Each record is an etcd key under the LB's record prefix (``lbapp.keys``) holding
{"address": IPv4, "weight": 1..255}; an LB's announcer keeps its own record there on a lease
while its server is ready (``EtcdRecord``), an orchestrator may add or remove records the same
way, and the zone writer on each DNS node turns the records into the zone CoreDNS serves
(``build_zone``, ``build_weights``).

A record's value is input from the network: anything that is not exactly that shape is refused
with the reason (``parse_record``), and a zone is built only from records that parsed.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from collections.abc import Sequence

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.IN.A import A
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lbapp.etcd import EtcdClient, EtcdError
from lbapp.healthwatch import log

MAX_RECORD_BYTES = 1024
# A 512-byte UDP answer holds ~28 A records; more would be truncated for clients without EDNS.
MAX_RECORDS = 28
RETRY_S = 0.5
SOA_TIMERS = {"refresh": 60, "retry": 10, "expire": 3600}


class RecordError(ValueError):
    """A record value that is not {"address": IPv4, "weight": 1..255}."""


class DnsRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    address: ipaddress.IPv4Address
    weight: int = Field(1, ge=1, le=255)

    def to_json(self) -> str:
        return json.dumps({"address": str(self.address), "weight": self.weight})


def parse_record(value: str | bytes) -> DnsRecord:
    """A record from its stored JSON; RecordError saying what is wrong otherwise."""
    if len(value) > MAX_RECORD_BYTES:
        raise RecordError(f"{len(value)} bytes (at most {MAX_RECORD_BYTES})")
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError("not a JSON object")
    if isinstance(data.get("address"), str):   # strict mode takes addresses only as objects
        try:
            data["address"] = ipaddress.IPv4Address(data["address"])
        except ValueError:
            raise RecordError(f"address: {data['address']!r} is not an IPv4 address") from None
    try:
        return DnsRecord.model_validate(data)
    except ValidationError as exc:
        raise RecordError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}"
                                    for e in exc.errors())) from None


def usable_records(records: Sequence[DnsRecord]) -> list[DnsRecord]:
    """One record per address (the first wins), at most MAX_RECORDS, in address order."""
    by_address: dict[ipaddress.IPv4Address, DnsRecord] = {}
    for record in records:
        by_address.setdefault(record.address, record)
    return [by_address[a] for a in sorted(by_address)][:MAX_RECORDS]


def build_zone(zone: str, name: str, ns_address: str, records: Sequence[DnsRecord], ttl: int,
               serial: int) -> str:
    """The zone file text: SOA (negative answers cached for `ttl` too), NS, the name server's
    address and one A record per usable record; every name absolute."""
    origin = dns.name.from_text(zone)
    service = dns.name.from_text(name)
    if not service.is_subdomain(origin):
        raise ValueError(f"{name} is not inside zone {zone}")
    ns = dns.name.from_text("ns", origin)
    IN, rdtype = dns.rdataclass.IN, dns.rdatatype
    built = dns.zone.Zone(origin, relativize=False)
    with built.writer() as txn:
        txn.add(origin, ttl, SOA(IN, rdtype.SOA, ns, dns.name.from_text("hostmaster", origin),
                                 serial % 2**32, SOA_TIMERS["refresh"], SOA_TIMERS["retry"],
                                 SOA_TIMERS["expire"], ttl))
        txn.add(origin, ttl, NS(IN, rdtype.NS, ns))
        txn.add(ns, ttl, A(IN, rdtype.A, ns_address))
        for record in usable_records(records):
            txn.add(service, ttl, A(IN, rdtype.A, str(record.address)))
    return built.to_text(relativize=False)


def build_weights(name: str, records: Sequence[DnsRecord]) -> str:
    """The weight file of CoreDNS's `loadbalance weighted`: the name, then "address weight"."""
    lines = ["# weights of the first answer (CoreDNS loadbalance weighted)",
             dns.name.from_text(name).to_text()]
    lines += [f"{record.address} {record.weight}" for record in usable_records(records)]
    return "\n".join(lines) + "\n"


class EtcdRecord:
    """An announcer channel: the LB's record in etcd, written on a lease while up and deleted
    when down; the lease is renewed every ttl/4, so the record of a node that dies or hangs
    expires within the TTL. etcd is asked from a private event loop thread (the announcer's
    loop is synchronous); each call is bounded."""

    def __init__(self, endpoints: Sequence[str], key: str, value: str, ttl: int, timeout: float = 1.0):
        self.key, self.value, self.ttl, self.timeout = key, parse_record(value).to_json(), ttl, timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="etcd", daemon=True)
        self.thread.start()
        self.etcd: EtcdClient = self._run(self._client(list(endpoints)))
        self.lease: int | None = None
        self.synced = False            # etcd holds what the last set() asked for
        self.renewed = self.failed = 0.0

    async def _client(self, endpoints: list[str]) -> EtcdClient:
        return EtcdClient(endpoints)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout * 3)

    def describe(self) -> str:
        return f"etcd record {self.key} (lease {self.ttl} s)"

    async def _put(self) -> None:
        if self.lease is None:
            self.lease = (await self.etcd.lease_grant(self.ttl)).id
            self.renewed = time.monotonic()
        await self.etcd.put(self.key, self.value, lease=self.lease)

    async def _delete(self) -> None:
        await self.etcd.delete(self.key)

    def set(self, up: bool) -> bool:
        try:
            self._run(self._put() if up else self._delete())
        except (EtcdError, OSError, TimeoutError) as exc:
            log(f"etcd: {'put' if up else 'delete'} {self.key} failed: {type(exc).__name__}: {exc}")
            self.synced, self.failed = False, time.monotonic()
            return False
        self.synced = True
        return True

    def refresh(self, up: bool) -> None:
        if not self.synced:
            if time.monotonic() - self.failed >= RETRY_S:   # etcd away: do not stall every check
                self.set(up)
            return
        if self.lease is None or time.monotonic() - self.renewed < self.ttl / 4:
            return
        try:
            left = self._run(self.etcd.lease_keepalive(self.lease))
        except (EtcdError, OSError, TimeoutError) as exc:
            log(f"etcd: renewing lease {self.lease:x} failed: {type(exc).__name__}: {exc}")
            return
        self.renewed = time.monotonic()
        if left <= 0:                  # expired (we were too slow): the record went with it
            log(f"etcd: lease {self.lease:x} expired; writing {self.key} again")
            self.lease = None
            if up:
                self.set(True)

    def close(self) -> None:
        try:
            if self.lease is not None:
                self._run(self.etcd.lease_revoke(self.lease))
            self._run(self.etcd.close())
        except (EtcdError, OSError, TimeoutError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)
