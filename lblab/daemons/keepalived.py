"""keepalived: VRRPv3 instances holding VIPs — the DNS VIP on the DNS pair, each LB VIP on its
LB members (scaling vip). Every state change is recorded per instance by a notify script, which
is how `lblab status` knows MASTER / BACKUP / FAULT per node."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lblab.daemons.base import Daemon, NodeContext
from lblab.lab import procs
from lblab.lab.templates import render


@dataclass(frozen=True)
class VrrpInstance:
    name: str
    vip: str
    vrid: int
    lan: str
    priority: int
    peers: tuple[str, ...]          # the other members' addresses on the LAN (unicast)


@dataclass(frozen=True)
class HealthCheck:
    """What keepalived tracks: the fast watcher's file, and the URL its slow backstop asks."""

    name: str
    track_file: Path
    url: str


class Keepalived(Daemon):
    kind = "keepalived"

    def __init__(self, ctx: NodeContext, instances: list[VrrpInstance], check: HealthCheck):
        super().__init__(ctx)
        self.instances, self.check = instances, check

    @property
    def config_path(self) -> Path:
        return self.path(".conf")

    @property
    def notify_path(self) -> Path:
        return self.path("-notify.sh")

    def state_path(self, instance: str) -> Path:
        return self.path(f"-{instance}.vrrp")

    def render(self) -> dict[Path, str]:
        topo, ctx = self.ctx.topo, self.ctx
        instances = [{"name": i.name, "interface": ctx.interface(i.lan), "vrid": i.vrid,
                      "priority": i.priority, "own_address": ctx.address(i.lan), "peers": i.peers,
                      "vip": i.vip, "prefixlen": topo.lans[i.lan].prefixlen} for i in self.instances]
        check = {"name": f"{self.check.name}_backstop", "url": self.check.url, "timeout_s": 0.5}
        track = {"name": f"{self.check.name}_watch", "path": str(self.check.track_file)}
        text = render("keepalived.conf.j2", lab=ctx.lab, node=ctx.node, advert_s=topo.vrrp.advert_s,
                      instances=instances, track_files=[track], check=check,
                      notify=f"/bin/sh {self.notify_path}")
        notify = render("keepalived-notify.sh.j2", lab=ctx.lab, node=ctx.node, state_dir=str(ctx.run_dir))
        return {self.config_path: text, self.notify_path: notify}

    def prepare(self) -> None:
        for instance in self.instances:
            self.state_path(instance.name).unlink(missing_ok=True)

    def argv(self) -> list[str]:
        p = self.path
        return ["keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(self.config_path),
                "-p", str(p(".pid")), "-r", str(p("-vrrp.pid")), "-c", str(p("-checkers.pid")),
                "-b", str(p("-bfd.pid")), "-i", self.ctx.node]

    def check_ready(self) -> str | None:
        vrrp = self.path("-vrrp.pid")
        return None if vrrp.is_file() and vrrp.read_text().strip() else "VRRP child not started"

    def vrrp_state(self, instance: str) -> str | None:
        """The state keepalived last reported for the instance (None: none reported yet)."""
        try:
            return self.state_path(instance).read_text().strip() or None
        except FileNotFoundError:
            return None

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
