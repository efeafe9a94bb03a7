"""BIRD 2: the router's BGP/ECMP instance and each LB node's announcing speaker."""
from __future__ import annotations

from pathlib import Path

from lbapp.birdctl import BirdControl
from lblab.daemons.base import Daemon
from lblab.lab.templates import render


class _Bird(Daemon):
    kind = "bird"
    template: str

    @property
    def socket_path(self) -> Path:
        return self.path(".ctl")

    @property
    def config_path(self) -> Path:
        return self.path(".conf")

    def argv(self) -> list[str]:
        return ["bird", "-f", "-c", str(self.config_path), "-s", str(self.socket_path),
                "-P", str(self.path(".pid"))]

    def control(self) -> BirdControl:
        return BirdControl(str(self.socket_path))

    def check_ready(self) -> str | None:
        try:
            reply = self.control().command("show status")
        except (OSError, ConnectionError, RuntimeError) as exc:
            return f"control socket: {exc}"
        return None if any("Daemon is up and running" in line for line in reply) else "starting"

    def render(self) -> dict[Path, str]:
        return {self.config_path: render(self.template, **self.template_context())}

    def template_context(self) -> dict:
        topo = self.ctx.topo
        return {"lab": self.ctx.lab, "node": self.ctx.node, "router_id": self.ctx.first_address,
                "anycast_vip": str(topo.service.anycast_vip), "bgp": topo.bgp, "bfd": topo.bfd}


class BirdRouter(_Bird):
    """eBGP to every LB sharing a LAN, TCP-MD5, BFD, import filter, one ECMP route in the kernel."""

    template = "bird-router.conf.j2"

    @staticmethod
    def peer_protocol(lb_node: str) -> str:
        return f"bgp_{lb_node}"

    def peers(self) -> list[dict]:
        topo, me = self.ctx.topo, self.ctx.node
        peers = []
        for name, lb in topo.nodes_of("lb").items():
            lans = topo.shared_lans(me, name)
            if not lans:
                continue
            peers.append({"protocol": self.peer_protocol(name), "node": name, "asn": lb.asn,
                          "address": str(lb.interfaces[lans[0]]),
                          "local_address": str(topo.address_on(me, lans[0]))})
        return peers

    def template_context(self) -> dict:
        peers = self.peers()
        topo = self.ctx.topo
        lans = {lan for lb in topo.nodes_of("lb") for lan in topo.shared_lans(self.ctx.node, lb)}
        return {**super().template_context(), "asn": self.ctx.spec.asn, "peers": peers,
                "bfd_interfaces": sorted(self.ctx.interface(lan) for lan in lans)}


class BirdSpeaker(_Bird):
    """Announces the anycast VIP to the router(s) while protocol `vip` is enabled."""

    template = "bird-speaker.conf.j2"
    UPLINK_PROTOCOL = "uplink"
    VIP_PROTOCOL = "vip"
    # Rogue announcements: routes in this kernel table of the node are learnt and exported.
    ROGUE_PROTOCOL = "rogue"
    ROGUE_TABLE = 200

    def uplinks(self) -> list[dict]:
        topo, me = self.ctx.topo, self.ctx.node
        uplinks = []
        for index, (name, router) in enumerate(topo.nodes_of("router").items()):
            lans = topo.shared_lans(me, name)
            if not lans:
                continue
            protocol = self.UPLINK_PROTOCOL if index == 0 else f"{self.UPLINK_PROTOCOL}_{name}"
            uplinks.append({"protocol": protocol, "node": name, "asn": router.asn,
                            "address": str(router.interfaces[lans[0]]),
                            "local_address": str(topo.address_on(me, lans[0])), "lan": lans[0]})
        return uplinks

    def template_context(self) -> dict:
        uplinks = self.uplinks()
        return {**super().template_context(), "asn": self.ctx.spec.asn, "uplinks": uplinks,
                "uplink_interface": self.ctx.interface(uplinks[0]["lan"]),
                "rogue_protocol": self.ROGUE_PROTOCOL, "rogue_table": self.ROGUE_TABLE}
