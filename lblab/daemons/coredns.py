"""CoreDNS: authoritative for the service zone, answering on the DNS VIP when it is here. Its
zone is data (lbapp.dnsrecords builds it): rendered here from the scaling mode's records at
start, and, where a zone writer runs (scaling dns), rewritten from etcd as LB records change;
CoreDNS rereads the zone and the answer weights every 100 ms."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lbapp.dnsrecords import DnsRecord, build_weights, build_zone
from lblab.daemons.base import Daemon, NodeContext
from lblab.lab import probes
from lblab.lab.templates import render
from lblab.paths import COREDNS_BIN

HEALTH_PORT = 8080
READY_PORT = 8181
METRICS_PORT = 9153
RELOAD = "100ms"
INITIAL_SERIAL = 1      # the zone writer's serials are etcd revisions, always above this


class CoreDns(Daemon):
    kind = "coredns"

    def __init__(self, ctx: NodeContext, records: Sequence[DnsRecord] = ()):
        super().__init__(ctx)
        self.records = list(records)

    @property
    def corefile(self) -> Path:
        return self.path(".Corefile")

    @property
    def zone_file(self) -> Path:
        return self.path(f".{self.ctx.topo.service.zone}.db")

    @property
    def weights_file(self) -> Path:
        return self.path(".weights")

    @property
    def ns_address(self) -> str:
        """The name server's address in the zone: the DNS VIP, else this node's DNS-LAN address."""
        topo = self.ctx.topo
        return str(topo.dns.vip) if topo.dns.vip else self.ctx.address(topo.dns.lan)

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        zone = build_zone(topo.service.zone, topo.service.name, self.ns_address, self.records,
                          topo.service.dns_ttl, INITIAL_SERIAL)
        corefile = render("Corefile.j2", lab=self.ctx.lab, node=self.ctx.node, zone=topo.service.zone,
                          zone_file=str(self.zone_file), weights_file=str(self.weights_file), reload=RELOAD,
                          health_port=HEALTH_PORT, ready_port=READY_PORT, metrics_port=METRICS_PORT,
                          control_address=self.ctx.control_address)
        return {self.zone_file: zone, self.weights_file: build_weights(topo.service.name, self.records),
                self.corefile: corefile}

    def argv(self) -> list[str]:
        return [str(COREDNS_BIN), "-conf", str(self.corefile)]

    def check_ready(self) -> str | None:
        if probes.http_ok(self.ctx.ns, self.ctx.control_address, READY_PORT, "/ready", timeout=0.5):
            return None
        return f"http://{self.ctx.control_address}:{READY_PORT}/ready not 200"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, METRICS_PORT, "/metrics"
