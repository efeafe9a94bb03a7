"""Build a lab's network: one named namespace per node, one Linux bridge per LAN, veth links,
addresses, routes and sysctls, all made through netlink from this process (no shell or helper
process per node: a big lab has a hundred). Every namespace, bridge and root-side link is
recorded in the ledger before it is created; names carry a per-lab tag so labs can run side by
side. `lblab cli` attaches Mininet's CLI to the namespaces this builds (lblab/cli/shell.py)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from pyroute2 import IPRoute

from lblab.kinds import kind_of
from lblab.kinds.dns import RESOLVER_TIMEOUT_S
from lblab.lab import netns
from lblab.lab.ledger import Ledger
from lblab.lab.netns import namespace_name
from lblab.lab.progress import LINKS, NAMESPACES, Counts
from lblab.topology.model import Topology, interface_name, link_interface_name

ALIAS_PREFIX = "lblab:"
CONFIGURE_THREADS = 4      # nodes configured at once (netlink calls and /proc/sys writes)


def lab_tag(lab: str) -> str:
    """5 characters naming a lab in root-namespace interface names (limit 15 characters)."""
    return "l" + hashlib.sha1(lab.encode()).hexdigest()[:4]


def bridge_name(lab: str, lan: str) -> str:
    return f"{lab_tag(lab)}-{lan}"[:15]


def port_name(lab: str, index: int) -> str:
    return f"{lab_tag(lab)}p{index}"


class NetworkError(RuntimeError):
    pass


def preflight(lab: str, topo: Topology) -> None:
    """Refuse to build over leftovers: every name this lab would create must be free."""
    clashes = [namespace_name(lab, n) for n in topo.nodes if netns.exists(namespace_name(lab, n))]
    with IPRoute() as ipr:
        existing = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    wanted = [bridge_name(lab, lan) for lan in topo.lans]
    wanted += [name for name, _node, _lan in lan_ports(lab, topo)]
    clashes += [name for name in wanted if name in existing]
    if clashes:
        raise NetworkError(f"lab {lab}: these already exist: {', '.join(clashes[:8])}"
                           f"{' ...' if len(clashes) > 8 else ''}; a previous lab of this name was not "
                           f"torn down (`lblab down --lab {lab}`)")


def lan_ports(lab: str, topo: Topology) -> list[tuple[str, str, str]]:
    """(root-side veth name, node, LAN) for every LAN interface of every node."""
    ports = []
    for node, spec in topo.nodes.items():
        for lan in spec.interfaces:
            ports.append((port_name(lab, len(ports)), node, lan))
    return ports


def create_namespaces(lab: str, topo: Topology, ledger: Ledger, counts: Counts | None = None,
                      first: Iterable[str] = (), created: Callable[[str], None] | None = None) -> None:
    """One namespace per node, loopback up (all recorded first, then created): the nodes in
    ``first`` before the others, and ``created(node)`` called as soon as each one exists."""
    counts = counts or Counts()
    preflight(lab, topo)
    names = {node: namespace_name(lab, node) for node in topo.nodes}
    counts.expect(NAMESPACES, len(names))
    ledger.add_many("netns", [(name, {"node": node}) for node, name in names.items()])
    first = [node for node in first if node in names]
    for node in [*first, *(n for n in names if n not in first)]:
        netns.create(names[node])
        counts.add(NAMESPACES)
        if created is not None:
            created(node)


def connect(lab: str, topo: Topology, ledger: Ledger, counts: Counts | None = None) -> None:
    """Bridges, a veth per LAN interface, point-to-point links, then every node configured."""
    counts = counts or Counts()
    ports = lan_ports(lab, topo)
    counts.expect(LINKS, len(ports) + len(topo.links))
    alias = ALIAS_PREFIX + lab
    bridges = {lan: bridge_name(lab, lan) for lan in topo.lans}
    ledger.add_many("bridge", [(name, {"lan": lan}) for lan, name in bridges.items()])
    ledger.add_many("veth", [(name, {"node": node, "lan": lan}) for name, node, lan in ports])
    with IPRoute() as ipr:
        bridge_index = {}
        for lan, name in bridges.items():
            # bridged lab traffic skips the root namespace's iptables (per-bridge nf_call_* off)
            ipr.link("add", ifname=name, kind="bridge", br_nf_call_iptables=0, br_nf_call_ip6tables=0,
                     br_nf_call_arptables=0, br_forward_delay=0)
            bridge_index[lan] = ipr.link_lookup(ifname=name)[0]
            ipr.link("set", index=bridge_index[lan], ifalias=alias, state="up")
        for name, node, lan in ports:
            ipr.link("add", ifname=name, kind="veth",
                     peer={"ifname": interface_name(lan), "net_ns_fd": namespace_name(lab, node)})
            index = ipr.link_lookup(ifname=name)[0]
            ipr.link("set", index=index, ifalias=alias, master=bridge_index[lan], state="up")
            counts.add(LINKS)
    for link in topo.links:
        (a, _), (b, _) = link.ends.items()
        with netns.ipr(namespace_name(lab, a)) as ns:
            ns.link("add", ifname=link_interface_name(b), kind="veth",
                    peer={"ifname": link_interface_name(a), "net_ns_fd": namespace_name(lab, b)})
        counts.add(LINKS)
    with ThreadPoolExecutor(max_workers=CONFIGURE_THREADS) as pool:
        for done in pool.map(lambda node: configure_node(lab, topo, node), topo.nodes):
            del done


def build(lab: str, topo: Topology, ledger: Ledger, counts: Counts | None = None) -> None:
    create_namespaces(lab, topo, ledger, counts)
    connect(lab, topo, ledger, counts)


def configure_node(lab: str, topo: Topology, node: str) -> None:
    """Addresses, interfaces up, default route, and what the node's kind adds (sysctls, VIPs,
    rules)."""
    spec = topo.nodes[node]
    kind = kind_of(spec.role)
    name = namespace_name(lab, node)
    addresses = {interface_name(lan): (str(address), topo.lans[lan].prefixlen)
                 for lan, address in spec.interfaces.items()}
    for link in topo.links:
        if node in link.ends:
            peer = next(other for other in link.ends if other != node)
            end = link.ends[node]
            addresses[link_interface_name(peer)] = (str(end.ip), end.network.prefixlen)
    netns.sysctl(name, kind.node_sysctls(spec))
    with netns.ipr(name) as ns:
        for ifname, (address, prefixlen) in addresses.items():
            for index in ns.link_lookup(ifname=ifname):
                ns.addr("add", index=index, address=address, prefixlen=prefixlen)
                ns.link("set", index=index, state="up")
        set_default_route(ns, spec.gateways)
        kind.configure_network(lab, topo, node, ns)


def set_default_route(ns, gateways: list) -> None:
    """The node's default route through its gateway(s): several make one multipath route."""
    if len(gateways) == 1:
        ns.route("replace", dst="0.0.0.0/0", gateway=str(gateways[0]))
    elif gateways:
        ns.route("replace", dst="0.0.0.0/0", multipath=[{"gateway": str(g)} for g in gateways])


def write_resolvers(lab: str, nodes: list[str], nameserver: str, ledger: Ledger) -> None:
    """/etc/netns/<ns>/resolv.conf: `ip netns exec` bind-mounts it over /etc/resolv.conf, so
    programs run in the node resolve through the lab's DNS VIP."""
    directories = {node: netns.ETC_NETNS_DIR / namespace_name(lab, node) for node in nodes}
    ledger.add_many("netns_etc", [(str(d), {"node": node}) for node, d in directories.items()])
    for node, directory in directories.items():
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "resolv.conf").write_text(f"# lblab {lab}: the lab's DNS VIP\nnameserver {nameserver}\n"
                                               f"options timeout:{RESOLVER_TIMEOUT_S} attempts:2\n")
        (directory / "hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {node}\n")


def root_links() -> set[str]:
    """Names of every link in the root namespace (one netlink dump)."""
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def lab_links(lab: str) -> list[str]:
    """Root-namespace links that carry the lab's mark or its name tag."""
    with IPRoute() as ipr:
        links = [(link.get_attr("IFLA_IFNAME"), link.get_attr("IFLA_IFALIAS") or "") for link in ipr.get_links()]
    return sorted(name for name, alias in links if alias == ALIAS_PREFIX + lab or name.startswith(lab_tag(lab)))


def link_alias(name: str) -> str | None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return None
        return ipr.get_links(found[0])[0].get_attr("IFLA_IFALIAS") or ""


def delete_root_link(name: str, lab: str) -> bool:
    """Delete a root-namespace bridge or veth of this lab; never one that is not marked ours."""
    alias = link_alias(name)
    if alias is None:
        return False
    # An empty alias is a link the runner created (it is in the ledger, and preflight saw the
    # name free) but was killed before marking; any other mark belongs to someone else.
    if alias not in ("", ALIAS_PREFIX + lab):
        raise NetworkError(f"refusing to delete {name}: it is not marked as lab {lab}'s (alias {alias!r})")
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            ipr.link("del", index=index)
    return True
