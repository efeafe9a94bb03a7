"""Build a lab's network on Mininet: one named namespace per node, one Linux bridge per LAN, veth
links, addresses, routes and sysctls. Every namespace, bridge and root-side link is recorded in
the ledger before it is created; names carry a per-lab tag so labs can run side by side."""
from __future__ import annotations

import hashlib
import os
import pty
import select
import signal
from pathlib import Path

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import Host, Switch
from pyroute2 import IPRoute, NetNS

from lblab.kinds import kind_of
from lblab.lab import netns
from lblab.lab.ledger import Ledger
from lblab.lab.netns import namespace_name
from lblab.topology.model import Topology, interface_name, link_interface_name

ALIAS_PREFIX = "lblab:"


def lab_tag(lab: str) -> str:
    """5 characters naming a lab in root-namespace interface names (limit 15 characters)."""
    return "l" + hashlib.sha1(lab.encode()).hexdigest()[:4]


def bridge_name(lab: str, lan: str) -> str:
    return f"{lab_tag(lab)}-{lan}"[:15]


def port_name(lab: str, index: int) -> str:
    return f"{lab_tag(lab)}p{index}"


def _stop_shell_only(node) -> None:
    """Stop a Mininet node's shell but nothing else: the namespace, links and daemons belong to
    the lab (Mininet's own terminate would also delete interfaces)."""
    if node.shell and node.shell.poll() is None:
        os.killpg(node.shell.pid, signal.SIGHUP)
        node.shell.wait()
    node.cleanup()


class NamespaceHost(Host):
    """A Mininet host whose shell runs in an existing named namespace (ip netns exec), so the
    namespace outlives the Mininet process and is reachable by `ip netns exec <lab>-<node>`."""

    def __init__(self, name, netns_name: str, **params):
        self.netns_name = netns_name
        super().__init__(name, inNamespace=True, **params)

    def startShell(self, mnopts=None):
        cmd = ["mnexec", "-cd", "ip", "netns", "exec", self.netns_name, "env", "PS1=" + chr(127),
               "bash", "--norc", "--noediting", "-is", "mininet:" + self.name]
        self.master, self.slave = pty.openpty()
        self.shell = self._popen(cmd, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                 close_fds=False)
        self.stdin = os.fdopen(self.master, "r")
        self.stdout = self.stdin
        self.pid = self.shell.pid
        self.pollOut = select.poll()
        self.pollOut.register(self.stdout)
        self.outToNode[self.stdout.fileno()] = self
        self.inToNode[self.stdin.fileno()] = self
        self.execed = False
        self.lastCmd = None
        self.lastPid = None
        self.readbuf = ""
        while True:
            data = self.read(1024)
            if data[-1] == chr(127):
                break
            self.pollOut.poll()
        self.waiting = False
        self.cmd("unset HISTFILE; stty -echo; set +m")

    def mountPrivateDirs(self):
        pass

    def unmountPrivateDirs(self):
        pass

    def configDefault(self, **_params):
        # Addresses come from the topology (set per interface at link time), never Mininet's
        # automatic 10.0.0.0/8 plan.
        self.cmd("ip link set lo up")

    def terminate(self):
        _stop_shell_only(self)


class LabBridge(Switch):
    """A Linux bridge in the root namespace, created with `ip link` so bridged lab traffic skips
    the root namespace's iptables (per-bridge nf_call_* off) and carries the lab's alias."""

    def __init__(self, name, lab: str, **params):
        self.lab = lab
        params["inNamespace"] = False
        super().__init__(name, **params)

    @classmethod
    def setup(cls):
        pass

    def connected(self):
        return True

    def start(self, _controllers):
        with IPRoute() as ipr:
            ipr.link("add", ifname=self.name, kind="bridge", br_nf_call_iptables=0,
                     br_nf_call_ip6tables=0, br_nf_call_arptables=0, br_forward_delay=0)
            index = ipr.link_lookup(ifname=self.name)[0]
            ipr.link("set", index=index, ifalias=ALIAS_PREFIX + self.lab)
            for intf in self.intfList():
                if intf.name == "lo":
                    continue
                port = ipr.link_lookup(ifname=intf.name)[0]
                ipr.link("set", index=port, master=index, ifalias=ALIAS_PREFIX + self.lab, state="up")
            ipr.link("set", index=index, state="up")

    def stop(self, deleteIntfs=True):
        pass

    def terminate(self):
        _stop_shell_only(self)


class NetworkError(RuntimeError):
    pass


def preflight(lab: str, topo: Topology) -> None:
    """Refuse to build over leftovers: every name this lab would create must be free."""
    clashes = [namespace_name(lab, n) for n in topo.nodes if netns.exists(namespace_name(lab, n))]
    with IPRoute() as ipr:
        existing = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    wanted = [bridge_name(lab, lan) for lan in topo.lans]
    wanted += [port_name(lab, i) for i in range(sum(len(n.interfaces) for n in topo.nodes.values()))]
    clashes += [name for name in wanted if name in existing]
    if clashes:
        raise NetworkError(f"lab {lab}: these already exist: {', '.join(clashes[:8])}"
                           f"{' ...' if len(clashes) > 8 else ''}; a previous lab of this name was not "
                           f"torn down (`lblab down --lab {lab}`)")


def build(lab: str, topo: Topology, ledger: Ledger) -> None:
    """Create namespaces, bridges and links with Mininet, then configure routes and sysctls."""
    setLogLevel("error")
    preflight(lab, topo)
    for node in topo.nodes:
        name = namespace_name(lab, node)
        ledger.add("netns", name, node=node)
        netns.create(name)

    net = Mininet(topo=None, switch=LabBridge, controller=None, build=False, autoSetMacs=False,
                  autoStaticArp=False, waitConnected=False)
    hosts = {node: net.addHost(node, cls=NamespaceHost, netns_name=namespace_name(lab, node))
             for node in topo.nodes}
    switches = {}
    for lan in topo.lans:
        name = bridge_name(lab, lan)
        ledger.add("bridge", name, lan=lan)
        switches[lan] = net.addSwitch(name, cls=LabBridge, lab=lab)
    index = 0
    for node, spec in topo.nodes.items():
        for lan, address in spec.interfaces.items():
            root_side = port_name(lab, index)
            index += 1
            ledger.add("veth", root_side, node=node, lan=lan)
            net.addLink(hosts[node], switches[lan], intfName1=interface_name(lan), intfName2=root_side,
                        params1={"ip": f"{address}/{topo.lans[lan].prefixlen}"})
    for link in topo.links:
        (a, addr_a), (b, addr_b) = link.ends.items()
        net.addLink(hosts[a], hosts[b], intfName1=link_interface_name(b), intfName2=link_interface_name(a),
                    params1={"ip": str(addr_a)}, params2={"ip": str(addr_b)})
    try:
        net.build()
        net.start()
    finally:
        for node in (*net.hosts, *net.switches):
            node.terminate()
    for node in topo.nodes:
        configure_node(lab, topo, node)


def configure_node(lab: str, topo: Topology, node: str) -> None:
    """Interfaces up, default route, and what the node's kind adds (sysctls, VIPs, rules)."""
    spec = topo.nodes[node]
    kind = kind_of(spec.role)
    name = namespace_name(lab, node)
    with NetNS(name) as ns:
        for index in ns.link_lookup(ifname="lo"):
            ns.link("set", index=index, state="up")
        for lan in spec.interfaces:
            for index in ns.link_lookup(ifname=interface_name(lan)):
                ns.link("set", index=index, state="up")
        if spec.gateway is not None:
            ns.route("add", dst="0.0.0.0/0", gateway=str(spec.gateway))
        netns.sysctl(name, kind.node_sysctls(spec))
        kind.configure_network(lab, topo, node, ns)


def write_resolver(lab: str, node: str, nameserver: str, ledger: Ledger) -> None:
    """/etc/netns/<ns>/resolv.conf: `ip netns exec` bind-mounts it over /etc/resolv.conf, so
    programs run in the node resolve through the lab's DNS VIP."""
    directory = netns.ETC_NETNS_DIR / namespace_name(lab, node)
    ledger.add("netns_etc", str(directory), node=node)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "resolv.conf").write_text(f"# lblab {lab}: the lab's DNS VIP\nnameserver {nameserver}\n"
                                           "options timeout:1 attempts:2\n")
    (directory / "hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {node}\n")


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
