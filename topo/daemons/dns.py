"""The DNS pair: CoreDNS serving the service zone, keepalived holding the DNS VIP (VRRPv3)."""
from __future__ import annotations

import time
from pathlib import Path

from topo import probes, procs
from topo.daemons.base import COREDNS_BIN, Daemon
from topo.render import render

HEALTH_PORT = 8080
READY_PORT = 8181
METRICS_PORT = 9153


def service_addresses(topo) -> list[str]:
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


class Keepalived(Daemon):
    kind = "keepalived"

    @property
    def config_path(self) -> Path:
        return self.path(".conf")

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        lan = topo.dns.lan
        peers = [str(node.interfaces[lan]) for name, node in topo.nodes_of("dns").items()
                 if name != self.ctx.node]
        text = render("keepalived.conf.j2", lab=self.ctx.lab, node=self.ctx.node,
                      interface=self.ctx.interface(lan), vrid=topo.dns.vrid,
                      priority=self.ctx.spec.vrrp_priority, advert_s=topo.vrrp.advert_s,
                      own_address=self.ctx.address(lan), peers=peers, vip=str(topo.dns.vip),
                      prefixlen=topo.lans[lan].prefixlen, health_port=HEALTH_PORT, check_timeout_s=0.5)
        return {self.config_path: text}

    def argv(self) -> list[str]:
        p = self.path
        return ["keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(self.config_path),
                "-p", str(p(".pid")), "-r", str(p("-vrrp.pid")), "-c", str(p("-checkers.pid")),
                "-b", str(p("-bfd.pid")), "-i", self.ctx.node]

    def check_ready(self) -> str | None:
        vrrp = self.path("-vrrp.pid")
        return None if vrrp.is_file() and vrrp.read_text().strip() else "VRRP child not started"

    def extra_pids(self, main: procs.ProcessId) -> list[procs.ProcessId]:
        # parent and VRRP child: a node is only rid of the VIP when both are gone
        found = {p.pid: p for p in super().extra_pids(main)}
        try:
            child = procs.identify(int(self.path("-vrrp.pid").read_text().strip()))
            if child:
                found[child.pid] = child
        except (FileNotFoundError, ValueError):
            pass
        return list(found.values())
