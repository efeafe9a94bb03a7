"""BIRD 2: the router's BGP/ECMP instance and each LB node's announcing speaker."""
from __future__ import annotations

from pathlib import Path

from lbapp.birdctl import BirdControl
from lblab.daemons.base import Daemon
from lblab.lab.templates import render
from lblab.topology.model import Topology


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


NEAREST_TABLE_BASE = 150        # kernel tables of a router's `nearest` (flow affinity uses 101..)
NEAREST_RULE_PRIORITY = 1000


def nearest_tables(topo: Topology, router: str) -> list[dict]:
    """One per client LAN with a nearest router: BIRD table, kernel table and rule, the router
    preferred and its address towards this one."""
    tables = []
    for index, (lan, near) in enumerate(topo.nodes[router].nearest.items()):
        lans = topo.shared_lans(router, near)
        tables.append({"lan": lan, "subnet": str(topo.lans[lan]), "router": near,
                       "bird_table": f"near_{lan}", "kernel_table": NEAREST_TABLE_BASE + index,
                       "rule_priority": NEAREST_RULE_PRIORITY + index,
                       "preferred_protocol": BirdRouter.peer_protocol(near),
                       "preferred_address": str(topo.address_on(near, lans[0])) if lans else None})
    return tables


class BirdRouter(_Bird):
    """eBGP to every LB and every other router sharing a LAN, TCP-MD5, BFD, import filters, one
    ECMP route in the kernel; with `nearest`, one routing table per client LAN preferring the
    routes of that LAN's nearest router (local-pref), used for traffic from that LAN."""

    template = "bird-router.conf.j2"

    @staticmethod
    def peer_protocol(node: str) -> str:
        return f"bgp_{node}"

    def peers(self) -> list[dict]:
        """Every BGP neighbour: LB nodes and routers sharing a LAN with this router."""
        topo, me = self.ctx.topo, self.ctx.node
        peers = []
        for role in ("lb", "router"):
            for name, node in topo.nodes_of(role).items():
                lans = topo.shared_lans(me, name)
                if name == me or not lans:
                    continue
                peers.append({"protocol": self.peer_protocol(name), "node": name, "role": role,
                              "asn": node.asn, "address": str(node.interfaces[lans[0]]),
                              "local_address": str(topo.address_on(me, lans[0])), "lan": lans[0]})
        return peers

    def nearest_tables(self) -> list[dict]:
        return nearest_tables(self.ctx.topo, self.ctx.node)

    def template_context(self) -> dict:
        peers = self.peers()
        return {**super().template_context(), "asn": self.ctx.spec.asn, "peers": peers,
                "bfd_interfaces": sorted({self.ctx.interface(p["lan"]) for p in peers}),
                "nearest": self.nearest_tables()}


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
                "uplink_interface": self.ctx.interface(uplinks[0]["lan"]), "announce_at_start": False,
                "rogue_protocol": self.ROGUE_PROTOCOL, "rogue_table": self.ROGUE_TABLE}


class ImpostorSpeaker(BirdSpeaker):
    """A BGP speaker in an LB node's place with its own TCP-MD5 password (None: none), announcing
    the VIP from the start — what the rogue_speaker fault runs instead of the node's BIRD."""

    NAME = "rogue-bird"

    def __init__(self, ctx, password: str | None):
        super().__init__(ctx, name=self.NAME)
        self.password = password

    def template_context(self) -> dict:
        context = super().template_context()
        return {**context, "bgp": context["bgp"].model_copy(update={"password": self.password}),
                "announce_at_start": True}
