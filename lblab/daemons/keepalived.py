"""keepalived: holds the DNS VIP (VRRPv3) on the DNS node that is master."""
from __future__ import annotations

from pathlib import Path

from lblab.daemons.base import Daemon
from lblab.daemons.coredns import HEALTH_PORT
from lblab.daemons.dnswatch import DnsWatch
from lblab.lab import procs
from lblab.lab.templates import render


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
                      prefixlen=topo.lans[lan].prefixlen, health_port=HEALTH_PORT, check_timeout_s=0.5,
                      track_file=str(DnsWatch(self.ctx).track_path))
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
