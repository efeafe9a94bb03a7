"""Topology files: the data model and its validation.

A topology is YAML (see topo/reference.yaml). Loading it either returns a validated Topology or
raises TopologyError whose message names the file, the node and the field of every problem found.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

TOPO_DIR = Path(__file__).resolve().parent
NODE_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
LAN_NAME = re.compile(r"^[a-z][a-z0-9]{0,10}$")
ROLES = ("client", "dns", "router", "lb", "backend", "etcd", "redis", "prometheus",
         "orchestrator", "console")


class TopologyError(ValueError):
    """Invalid topology file; str() lists every problem as 'file: where: what'."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


IPv4 = ipaddress.IPv4Address


class Service(_Model):
    lb_id: str = Field(default="payment", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    name: str = "lb.payment.example"
    zone: str = "payment.example"
    anycast_vip: IPv4 = IPv4("10.0.0.100")
    port: int = Field(default=80, ge=1, le=65535)
    dns_ttl: int = Field(default=5, ge=0, le=86400)

    @field_validator("name", "zone")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if not re.fullmatch(r"([a-z0-9-]{1,63}\.)+[a-z]{2,63}", value):
            raise ValueError(f"{value!r} is not a DNS name")
        return value


class DnsSettings(_Model):
    vip: IPv4 | None = None
    lan: str = "client"
    vrid: int = Field(default=51, ge=1, le=255)


class BgpSettings(_Model):
    password: str | None = Field(default="lblab-md5", min_length=1, max_length=80)
    hold_s: int = Field(default=3, ge=3, le=240)
    keepalive_s: int = Field(default=1, ge=1, le=80)


class BfdSettings(_Model):
    interval_ms: int = Field(default=100, ge=10, le=10_000)
    multiplier: int = Field(default=3, ge=1, le=20)


class VrrpSettings(_Model):
    advert_s: float = Field(default=0.1, ge=0.01, le=40)


class AnnounceSettings(_Model):
    """How the LB node's announcer follows the local LB server's readiness."""

    interval_ms: int = Field(default=100, ge=20, le=10_000)
    timeout_ms: int = Field(default=80, ge=10, le=10_000)
    rise: int = Field(default=2, ge=1, le=20)
    fall: int = Field(default=2, ge=1, le=20)


class _NodeBase(_Model):
    interfaces: dict[str, IPv4] = Field(min_length=1, description="LAN name -> address")
    gateway: IPv4 | None = None


class ClientNode(_NodeBase):
    role: Literal["client"]


class DnsNode(_NodeBase):
    role: Literal["dns"]
    vrrp_priority: int | None = Field(default=None, ge=1, le=254)


class RouterNode(_NodeBase):
    role: Literal["router"]
    asn: int = Field(ge=1, le=4_294_967_294)
    # keep established flows on the LB they started on when the ECMP nexthop set changes
    flow_affinity: bool = True


class LbNode(_NodeBase):
    role: Literal["lb"]
    asn: int | None = Field(default=None, ge=1, le=4_294_967_294)
    standby: bool = False
    port: int = Field(default=80, ge=1, le=65535)
    admin_port: int = Field(default=9100, ge=1, le=65535)


class BackendNode(_NodeBase):
    role: Literal["backend"]
    port: int = Field(default=8080, ge=1, le=65535)


class EtcdNode(_NodeBase):
    role: Literal["etcd"]


class RedisNode(_NodeBase):
    role: Literal["redis"]


class PrometheusNode(_NodeBase):
    role: Literal["prometheus"]
    scrape_interval_s: float = Field(default=1, ge=0.1, le=300)


class OrchestratorNode(_NodeBase):
    role: Literal["orchestrator"]


class ConsoleNode(_NodeBase):
    role: Literal["console"]


Node = Annotated[
    Union[ClientNode, DnsNode, RouterNode, LbNode, BackendNode, EtcdNode, RedisNode,
          PrometheusNode, OrchestratorNode, ConsoleNode],
    Field(discriminator="role"),
]


class Link(_Model):
    """A point-to-point link between two nodes: node name -> address with prefix length."""

    ends: dict[str, ipaddress.IPv4Interface] = Field(min_length=2, max_length=2)


class Topology(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")
    description: str = ""
    scaling: Literal["anycast"] = "anycast"
    service: Service = Service()
    dns: DnsSettings = DnsSettings()
    bgp: BgpSettings = BgpSettings()
    bfd: BfdSettings = BfdSettings()
    vrrp: VrrpSettings = VrrpSettings()
    announce: AnnounceSettings = AnnounceSettings()
    lb_config: dict[str, Any] = Field(default_factory=dict,
                                      description="initial LB config; backend_servers default to every backend node")
    lans: dict[str, ipaddress.IPv4Network] = Field(min_length=1)
    nodes: dict[str, Node] = Field(min_length=1)
    links: list[Link] = []

    # --- convenience views used by the engine ---
    def nodes_of(self, role: str) -> dict[str, Any]:
        return {name: node for name, node in self.nodes.items() if node.role == role}

    def lan_of_address(self, address: IPv4) -> str | None:
        for lan, net in self.lans.items():
            if address in net:
                return lan
        return None

    def address_on(self, node: str, lan: str) -> IPv4:
        return self.nodes[node].interfaces[lan]

    def active_lbs(self) -> list[str]:
        return [n for n, spec in self.nodes_of("lb").items() if not spec.standby]


def interface_name(lan: str) -> str:
    """Name of a node's interface on a LAN, inside the node's namespace."""
    return f"eth-{lan}"


def link_interface_name(peer: str) -> str:
    return f"p-{peer}"


# ---------------------------------------------------------------------------------------------
# loading and validation


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping key given twice (e.g. two nodes with one name)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def resolve_topology_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return path
    return TOPO_DIR / f"{name_or_path}.yaml"


def available_topologies() -> list[str]:
    return sorted(p.stem for p in TOPO_DIR.glob("*.yaml"))


def load_topology(name_or_path: str) -> Topology:
    path = resolve_topology_path(name_or_path)
    source = str(path)
    if not path.is_file():
        known = ", ".join(available_topologies())
        raise TopologyError(source, [f"no such topology file (known topologies: {known})"])
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(source, [f"cannot read: {exc.strerror}"]) from None
    return parse_topology(text, source)


def parse_topology(text: str, source: str) -> Topology:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise TopologyError(source, [f"{where}: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise TopologyError(source, [f"YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise TopologyError(source, ["a topology must be a YAML mapping"])
    problems = _precheck_roles(data)
    if problems:
        raise TopologyError(source, problems)
    try:
        topo = TypeAdapter(Topology).validate_python(data)
    except ValidationError as exc:
        raise TopologyError(source, [_describe(err) for err in exc.errors()]) from None
    problems = semantic_problems(topo)
    if problems:
        raise TopologyError(source, problems)
    return topo


def _precheck_roles(data: dict) -> list[str]:
    """Give 'unknown role' a clear message before pydantic's union error does."""
    problems = []
    nodes = data.get("nodes")
    if isinstance(nodes, dict):
        for name, node in nodes.items():
            if not isinstance(node, dict):
                problems.append(f"nodes.{name}: must be a mapping with a role")
            elif "role" not in node:
                problems.append(f"nodes.{name}.role: missing (one of {', '.join(ROLES)})")
            elif node["role"] not in ROLES:
                problems.append(f"nodes.{name}.role: unknown role {node['role']!r} "
                                f"(expected one of {', '.join(ROLES)})")
    return problems


def _describe(err: dict) -> str:
    loc = list(err["loc"])
    # the discriminated union inserts the role tag after the node name: nodes.lb1.lb.asn
    if len(loc) >= 3 and loc[0] == "nodes" and loc[2] in ROLES:
        del loc[2]
    where = ".".join(str(p) for p in loc) or "(file)"
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "missing required field"
        if len(loc) == 3 and loc[0] == "nodes":
            msg = f"missing required option for this node's role"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{where}: {msg}"


def semantic_problems(topo: Topology) -> list[str]:
    """Cross-field checks pydantic cannot express: references, subnets, clashes, role needs."""
    problems: list[str] = []
    owners: dict[ipaddress.IPv4Address, str] = {}

    def claim(address: ipaddress.IPv4Address, owner: str) -> None:
        if address in owners:
            problems.append(f"{owner}: address {address} clashes with {owners[address]}")
        else:
            owners[address] = owner

    for lan, net in topo.lans.items():
        if not LAN_NAME.match(lan):
            problems.append(f"lans.{lan}: LAN names are 1-11 lowercase letters/digits, starting with a letter")
    lan_list = list(topo.lans.items())
    for i, (a, net_a) in enumerate(lan_list):
        for b, net_b in lan_list[i + 1:]:
            if net_a.overlaps(net_b):
                problems.append(f"lans.{b}: subnet {net_b} overlaps lans.{a} ({net_a})")

    for name, node in topo.nodes.items():
        where = f"nodes.{name}"
        if not NODE_NAME.match(name):
            problems.append(f"{where}: node names are 1-12 lowercase letters/digits, starting with a letter")
        for lan, address in node.interfaces.items():
            if lan not in topo.lans:
                problems.append(f"{where}.interfaces.{lan}: no such LAN (LANs: {', '.join(topo.lans)})")
                continue
            net = topo.lans[lan]
            if address not in net or address in (net.network_address, net.broadcast_address):
                problems.append(f"{where}.interfaces.{lan}: {address} is not a host address of {net}")
                continue
            claim(address, f"{where}.interfaces.{lan}")
        if node.gateway is not None:
            own_nets = [topo.lans[l] for l in node.interfaces if l in topo.lans]
            if not any(node.gateway in net for net in own_nets):
                problems.append(f"{where}.gateway: {node.gateway} is not on any LAN of this node")
        if node.role == "lb" and topo.scaling == "anycast" and node.asn is None:
            problems.append(f"{where}.asn: missing required option for role lb (anycast needs BGP)")
        if node.role == "dns" and topo.dns.vip is not None and node.vrrp_priority is None:
            problems.append(f"{where}.vrrp_priority: missing required option for role dns (dns.vip is set)")

    for i, link in enumerate(topo.links):
        names = list(link.ends)
        for end, iface in link.ends.items():
            if end not in topo.nodes:
                problems.append(f"links[{i}].ends.{end}: no such node")
                continue
            claim(iface.ip, f"links[{i}].ends.{end}")
        if len(names) == 2 and names[0] in topo.nodes and names[1] in topo.nodes:
            a, b = (link.ends[n] for n in names)
            if a.network != b.network:
                problems.append(f"links[{i}]: ends {a} and {b} are not in one subnet")

    for vip_name, vip in (("service.anycast_vip", topo.service.anycast_vip), ("dns.vip", topo.dns.vip)):
        if vip is not None and vip in owners:
            problems.append(f"{vip_name}: {vip} clashes with {owners[vip]}")
    if topo.dns.vip is not None:
        if topo.dns.lan not in topo.lans:
            problems.append(f"dns.lan: no such LAN {topo.dns.lan!r}")
        elif topo.dns.vip not in topo.lans[topo.dns.lan]:
            problems.append(f"dns.vip: {topo.dns.vip} is not in LAN {topo.dns.lan} ({topo.lans[topo.dns.lan]})")
        for name, node in topo.nodes_of("dns").items():
            if topo.dns.lan not in node.interfaces:
                problems.append(f"nodes.{name}.interfaces: a dns node must be on LAN {topo.dns.lan} (dns.lan)")
    if not topo.service.name.endswith("." + topo.service.zone):
        problems.append(f"service.name: {topo.service.name} is not inside service.zone {topo.service.zone}")

    roles = {node.role for node in topo.nodes.values()}
    for needed in ("dns", "lb", "backend", "etcd"):
        if needed not in roles:
            problems.append(f"nodes: a lab needs at least one {needed} node")
    if topo.scaling == "anycast":
        routers = topo.nodes_of("router")
        if not routers:
            problems.append("nodes: anycast scaling needs a router node")
        for lb_name, lb in topo.nodes_of("lb").items():
            if not any(set(lb.interfaces) & set(r.interfaces) for r in routers.values()):
                problems.append(f"nodes.{lb_name}.interfaces: shares no LAN with a router (no BGP peer)")
    if "lb_config" in topo.model_fields_set:
        problems.extend(_lb_config_problems(topo))
    return problems


def _lb_config_problems(topo: Topology) -> list[str]:
    from lbapp.config.schema import ConfigError, parse_config

    try:
        parse_config(initial_lb_config(topo), source="lb_config")
    except ConfigError as exc:
        return [f"lb_config.{line.strip()}" for line in str(exc).splitlines()[1:]]
    return []


def initial_lb_config(topo: Topology) -> dict[str, Any]:
    """The LB config the lab writes to etcd at bring-up (the seed's JSON shape)."""
    config = dict(topo.lb_config)
    if "backend_servers" not in config:
        backend_lan = None
        config["backend_servers"] = []
        for name, node in topo.nodes_of("backend").items():
            lbs = topo.nodes_of("lb").values()
            shared = [lan for lan in node.interfaces if any(lan in lb.interfaces for lb in lbs)]
            backend_lan = shared[0] if shared else next(iter(node.interfaces))
            config["backend_servers"].append(
                {"name": name, "address": str(node.interfaces[backend_lan]), "port": node.port})
    config.setdefault("health_endpoint", "/health")
    config.setdefault("poll_frequency", 2000)
    config.setdefault("algorithm", "round_robin")
    return config
