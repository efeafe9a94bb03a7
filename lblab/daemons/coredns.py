"""CoreDNS: authoritative for the service zone, answering on the DNS VIP when it is here."""
from __future__ import annotations

import time
from pathlib import Path

from lblab.daemons.base import Daemon
from lblab.lab import probes
from lblab.lab.templates import render
from lblab.paths import COREDNS_BIN
from lblab.topology.model import Topology

HEALTH_PORT = 8080
READY_PORT = 8181
METRICS_PORT = 9153


def service_addresses(topo: Topology) -> list[str]:
    """What the service name resolves to, by scaling mode."""
    return [str(topo.service.anycast_vip)]


class CoreDns(Daemon):
    kind = "coredns"

    @property
    def corefile(self) -> Path:
        return self.path(".Corefile")

    @property
    def zone_file(self) -> Path:
        return self.path(f".{self.ctx.topo.service.zone}.db")

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        label = topo.service.name[: -len(topo.service.zone) - 1]
        dns_address = str(topo.dns.vip) if topo.dns.vip else self.ctx.address(topo.dns.lan)
        zone = render("zone.db.j2", lab=self.ctx.lab, zone=topo.service.zone, ttl=topo.service.dns_ttl,
                      serial=int(time.time()), dns_address=dns_address, service_label=label,
                      service_addresses=service_addresses(topo))
        corefile = render("Corefile.j2", lab=self.ctx.lab, node=self.ctx.node, zone=topo.service.zone,
                          zone_file=str(self.zone_file), health_port=HEALTH_PORT, ready_port=READY_PORT,
                          metrics_port=METRICS_PORT, control_address=self.ctx.control_address)
        return {self.zone_file: zone, self.corefile: corefile}

    def argv(self) -> list[str]:
        return [str(COREDNS_BIN), "-conf", str(self.corefile)]

    def check_ready(self) -> str | None:
        if probes.http_ok(self.ctx.ns, self.ctx.control_address, READY_PORT, "/ready", timeout=0.5):
            return None
        return f"http://{self.ctx.control_address}:{READY_PORT}/ready not 200"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, METRICS_PORT, "/metrics"
