"""DNS for the traffic generator: one query -> (outcome, answers, ttl), and a TTL-honouring
caching stub resolver used by the HTTP stream to turn the service name into an address."""
from __future__ import annotations

import asyncio
import errno
import itertools
import time
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

_RCODE_OUTCOME = {
    dns.rcode.NXDOMAIN: "nxdomain",
    dns.rcode.SERVFAIL: "servfail",
    dns.rcode.REFUSED: "refused",
}


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    outcome: str                 # "ok" or a failure kind
    answers: tuple[str, ...] = ()
    ttl: int | None = None
    err: str | None = None       # detail of a failure


def os_error_kind(exc: OSError) -> str:
    code = exc.errno
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return "refused"
    if isinstance(exc, ConnectionResetError) or code in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    if code == errno.EHOSTUNREACH:
        return "error:host_unreachable"
    if code == errno.ENETUNREACH:
        return "error:net_unreachable"
    if code == errno.EADDRNOTAVAIL:
        return "error:addr_not_avail"
    if code == errno.EMFILE or code == errno.ENFILE:
        return "error:too_many_files"
    if code == errno.ETIMEDOUT:
        return "timeout"
    return f"error:{errno.errorcode.get(code, 'oserror').lower() if code else 'oserror'}"


async def query(name: str, server: str, timeout: float, qtype: str = "A", port: int = 53) -> DnsAnswer:
    """Send one query over UDP; never raises for network or protocol failures."""
    rdtype = dns.rdatatype.from_text(qtype)
    q = dns.message.make_query(name, rdtype)
    q.flags |= dns.flags.RD
    try:
        resp = await dns.asyncquery.udp(q, server, timeout=timeout, port=port, ignore_unexpected=True)
    except dns.exception.Timeout:
        return DnsAnswer("timeout")
    except OSError as exc:
        kind = os_error_kind(exc)
        if kind == "refused":       # ICMP port unreachable: nothing listens on the server
            kind = "error:port_unreachable"
        return DnsAnswer(kind, err=str(exc))
    except dns.exception.DNSException as exc:
        return DnsAnswer("error:bad_response", err=f"{type(exc).__name__}: {exc}")
    rcode = resp.rcode()
    if rcode != dns.rcode.NOERROR:
        return DnsAnswer(_RCODE_OUTCOME.get(rcode, f"rcode_{dns.rcode.to_text(rcode).lower()}"))
    ips: list[str] = []
    ttl: int | None = None
    for rrset in resp.answer:
        if rrset.rdtype == rdtype:
            ips += [rd.address for rd in rrset]
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
    if not ips:
        return DnsAnswer("nodata")
    return DnsAnswer("ok", tuple(ips), ttl)


class CachingResolver:
    """Resolves a name at one server, caches the answer for its TTL (0 = no caching), shares one
    in-flight lookup among concurrent callers, and hands out the answer's addresses in turn."""

    def __init__(self, server: str, timeout: float, port: int = 53, clock=time.monotonic):
        self.server = server
        self.timeout = timeout
        self.port = port
        self._clock = clock
        self._cache: dict[str, tuple[tuple[str, ...], float]] = {}
        self._inflight: dict[str, asyncio.Future] = {}
        self._rr = itertools.count()
        self.lookups = 0

    async def resolve(self, name: str) -> tuple[str | None, DnsAnswer | None]:
        """-> (ip, None) or (None, failed DnsAnswer)."""
        hit = self._cache.get(name)
        if hit is not None and hit[1] > self._clock():
            ips = hit[0]
            return ips[next(self._rr) % len(ips)], None
        task = self._inflight.get(name)
        if task is None:
            # the lookup runs as its own task, bounded by the resolver's timeout, so a caller
            # whose own deadline expires cancels only its wait, not the shared lookup
            task = asyncio.get_running_loop().create_task(self._lookup(name))
            self._inflight[name] = task
        ans = await asyncio.shield(task)
        if ans.outcome != "ok":
            return None, ans
        return ans.answers[next(self._rr) % len(ans.answers)], None

    async def _lookup(self, name: str) -> DnsAnswer:
        try:
            self.lookups += 1
            ans = await query(name, self.server, self.timeout, port=self.port)
            if ans.outcome == "ok" and ans.ttl:
                self._cache[name] = (ans.answers, self._clock() + ans.ttl)
            return ans
        finally:
            self._inflight.pop(name, None)
