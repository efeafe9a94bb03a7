"""The topology data model: lab-wide settings, LANs, links, and nodes.

A node's options are its kind's pydantic model (``lblab.kinds``); this module knows only what
every node has (role, interfaces, gateway). Views that several parts of the engine need — a
node's control address, the LANs two nodes share, the address one node reaches another at —
live here, once.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

IPv4 = ipaddress.IPv4Address

NODE_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# A reference to a node in a fault, check or traffic stanza: checked against the lab later, so
# the pattern is only wide enough to give "unknown node" rather than a pattern error for typos.
NodeRef = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
# Bridges are named <5-character lab tag>-<LAN> within Linux's 15 characters: 9 are left.
LAN_NAME = re.compile(r"^[a-z][a-z0-9]{0,8}$")
TOPOLOGY_NAME = r"^[a-z][a-z0-9-]{0,15}$"
DNS_NAME = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# What a TCP-MD5 key may hold here: printable ASCII without quotes, backslash or space, so it
# is a plain string in every config language that carries it.
PASSWORD = r"^[A-Za-z0-9!#$%&()*+,./:;<=>?@\[\]^_{|}~-]{1,80}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Service(StrictModel):
    lb_id: str = Field(default="payment", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    name: str = "lb.payment.example"
    zone: str = "payment.example"
    anycast_vip: IPv4 = IPv4("10.0.0.100")
    port: int = Field(default=80, ge=1, le=65535)
    dns_ttl: int = Field(default=5, ge=0, le=86400)

    @field_validator("name", "zone")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if len(value) > 253 or not DNS_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a DNS name")
        return value


class DnsSettings(StrictModel):
    vip: IPv4 | None = None
    lan: str = "client"
    vrid: int = Field(default=51, ge=1, le=255)


class BgpSettings(StrictModel):
    password: str | None = Field(default="lblab-md5", pattern=PASSWORD)
    hold_s: int = Field(default=3, ge=3, le=240)
    keepalive_s: int = Field(default=1, ge=1, le=80)

    @field_validator("keepalive_s")
    @classmethod
    def _keepalive_below_hold(cls, value: int, info: ValidationInfo) -> int:
        hold = info.data.get("hold_s")
        if hold is not None and value >= hold:
            raise ValueError(f"{value} must be below hold_s ({hold}): a session would expire between keepalives")
        return value


class BfdSettings(StrictModel):
    # below 50 ms BIRD's BFD on a busy 2-core lab flaps sessions that are fine
    interval_ms: int = Field(default=100, ge=50, le=10_000)
    multiplier: int = Field(default=3, ge=2, le=20)


class VrrpSettings(StrictModel):
    advert_s: float = Field(default=0.1, ge=0.05, le=40)


class AnnounceSettings(StrictModel):
    """How the LB node's announcer follows the local LB server's readiness."""

    interval_ms: int = Field(default=100, ge=20, le=10_000)
    timeout_ms: int = Field(default=80, ge=10, le=10_000)
    rise: int = Field(default=2, ge=1, le=20)
    fall: int = Field(default=2, ge=1, le=20)


class LbVip(StrictModel):
    """A VIP that floats between LB nodes with VRRP (scaling `vip`): node -> VRRP priority; the
    highest-priority member whose LB server is ready holds it."""

    vip: IPv4
    vrid: int = Field(ge=1, le=255)
    lan: str = Field(default="edge", description="the LAN the VIP lives on (every member is on it)")
    members: dict[str, Annotated[int, Field(ge=1, le=254)]] = Field(min_length=1)


class Site(StrictModel):
    """Nodes that fail together (a data centre): its router(s), LB nodes and backends. The site's
    LB servers serve their own LB config (`lb_id`), listing the site's backends."""

    lb_id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    nodes: list[NodeRef] = Field(min_length=1)


class NodeOptions(StrictModel):
    """What every node has; a kind's options model subclasses this with ``role: Literal[...]``."""

    role: str
    interfaces: dict[str, IPv4] = Field(min_length=1, description="LAN name -> address")
    # one default gateway, or several: one multipath default route, flows spread by L4 hash
    gateway: IPv4 | list[IPv4] | None = None

    @field_validator("gateway")
    @classmethod
    def _distinct_gateways(cls, value):
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one address (or leave gateway out)")
            if len(set(value)) != len(value):
                raise ValueError("a gateway is listed twice")
        return value

    @property
    def gateways(self) -> list[IPv4]:
        """The default route's nexthops (none, one, or several for a multipath route)."""
        if self.gateway is None:
            return []
        return list(self.gateway) if isinstance(self.gateway, list) else [self.gateway]


class Link(StrictModel):
    """A point-to-point link between two nodes: node name -> address with prefix length."""

    ends: dict[str, ipaddress.IPv4Interface] = Field(min_length=2, max_length=2)


class Topology(StrictModel):
    name: str = Field(pattern=TOPOLOGY_NAME)
    description: str = Field("", max_length=2000)
    # how clients reach the LB tier: one of lblab.kinds.scaling's modes (checked there)
    scaling: str = Field("anycast", pattern=r"^[a-z][a-z-]{0,31}$")
    service: Service = Service()
    dns: DnsSettings = DnsSettings()
    bgp: BgpSettings = BgpSettings()
    bfd: BfdSettings = BfdSettings()
    vrrp: VrrpSettings = VrrpSettings()
    announce: AnnounceSettings = AnnounceSettings()
    lb_config: dict[str, Any] = Field(default_factory=dict,
                                      description="initial LB config; backend_servers default to every backend node")
    lans: dict[str, ipaddress.IPv4Network] = Field(min_length=1)
    nodes: dict[str, NodeOptions] = Field(min_length=1)
    links: list[Link] = []
    lb_vips: list[LbVip] = Field(default_factory=list, description="scaling vip: the VIPs and their LB members")
    sites: dict[str, Site] = Field(default_factory=dict, description="nodes that fail together; empty: one site")

    # --- views used across the engine --------------------------------------------------
    def nodes_of(self, role: str) -> dict[str, Any]:
        return {name: node for name, node in self.nodes.items() if node.role == role}

    def lan_of_address(self, address: IPv4) -> str | None:
        for lan, net in self.lans.items():
            if address in net:
                return lan
        return None

    def address_on(self, node: str, lan: str) -> IPv4:
        return self.nodes[node].interfaces[lan]

    def control_address(self, node: str) -> IPv4:
        """Where other nodes reach this node's management endpoints: its control-LAN address,
        else its first address."""
        interfaces = self.nodes[node].interfaces
        return interfaces["control"] if "control" in interfaces else next(iter(interfaces.values()))

    def shared_lans(self, a: str, b: str) -> list[str]:
        """LANs both nodes are on, in a's order."""
        theirs = self.nodes[b].interfaces
        return [lan for lan in self.nodes[a].interfaces if lan in theirs]

    def address_towards(self, node: str, peer: str) -> IPv4 | None:
        """node's address on the first LAN it shares with peer (None if they share none)."""
        lans = self.shared_lans(node, peer)
        return self.nodes[node].interfaces[lans[0]] if lans else None

    def link_addresses(self, node: str) -> list[IPv4]:
        return [end.ip for link in self.links for name, end in link.ends.items() if name == node]

    def addresses(self, node: str) -> list[IPv4]:
        """Every address the topology gives node (LANs and point-to-point links)."""
        return [*self.nodes[node].interfaces.values(), *self.link_addresses(node)]

    def link_peers(self, node: str) -> list[str]:
        return [other for link in self.links if node in link.ends for other in link.ends if other != node]

    def site_of(self, node: str) -> str | None:
        return next((name for name, site in self.sites.items() if node in site.nodes), None)

    def lb_id_of(self, node: str) -> str:
        """The LB config an LB node serves: its site's, else the service's."""
        site = self.site_of(node)
        return self.sites[site].lb_id if site is not None else self.service.lb_id

    def lb_ids(self) -> list[str]:
        """Every LB config the lab seeds: one per site, or the service's."""
        return [site.lb_id for site in self.sites.values()] or [self.service.lb_id]


def interface_name(lan: str) -> str:
    """Name of a node's interface on a LAN, inside the node's namespace."""
    return f"eth-{lan}"


def link_interface_name(peer: str) -> str:
    return f"p-{peer}"


def node_interfaces(topo: Topology, node: str) -> list[str]:
    """Every interface of a node inside its namespace (LANs, then point-to-point links)."""
    return [interface_name(lan) for lan in topo.nodes[node].interfaces] + \
           [link_interface_name(peer) for peer in topo.link_peers(node)]


def initial_lb_config(topo: Topology, lb_id: str | None = None) -> dict[str, Any]:
    """The LB config the lab writes to etcd at bring-up (the seed's JSON shape): the topology's
    ``lb_config`` with every backend node (of the LB config's site, with sites) as a backend
    server unless it lists them."""
    config = dict(topo.lb_config)
    if "backend_servers" not in config:
        lb_id = lb_id or topo.lb_ids()[0]
        lbs = [name for name in topo.nodes_of("lb") if topo.lb_id_of(name) == lb_id]
        config["backend_servers"] = []
        backends = {name: node for name, node in topo.nodes_of("backend").items()
                    if not topo.sites or topo.lb_id_of(name) == lb_id}
        for name, node in backends.items():
            shared = [lan for lan in node.interfaces if any(lan in topo.nodes[lb].interfaces for lb in lbs)]
            lan = shared[0] if shared else next(iter(node.interfaces))
            config["backend_servers"].append(
                {"name": name, "address": str(node.interfaces[lan]), "port": node.port})
    config.setdefault("health_endpoint", "/health")
    config.setdefault("poll_frequency", 2000)
    config.setdefault("algorithm", "round_robin")
    return config
