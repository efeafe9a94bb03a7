"""`lblab cli`: Mininet's CLI on a running lab. Each node gets a Mininet host whose shell runs in
the node's existing namespace, with its interfaces and addresses known to Mininet, so the usual
commands work (`nodes`, `pingall`, `lb1 ip route`, `client1 curl http://lb.payment.example/`)."""
from __future__ import annotations

import sys

from mininet.cli import CLI
from mininet.link import Intf
from mininet.log import lg, setLogLevel
from mininet.net import Mininet

from lblab.cli.common import add_lab_option, attach as attach_lab, require_root
from lblab.lab.mininet_host import NamespaceHost
from lblab.topology.model import interface_name


def _no_move(*_args, **_kwargs):
    pass


def attach(lab) -> Mininet:
    setLogLevel("info")
    # Mininet's console handler writes to stderr; what the CLI prints belongs on stdout.
    for handler in lg.handlers:
        handler.setStream(sys.stdout)
    net = Mininet(topo=None, controller=None, build=False, autoSetMacs=False)
    for node, spec in lab.topo.nodes.items():
        host = net.addHost(node, cls=NamespaceHost, netns_name=lab.ns(node))
        for lan, address in spec.interfaces.items():
            intf = Intf(interface_name(lan), node=host, moveIntfFn=_no_move)
            intf.ip, intf.prefixLen = str(address), lab.topo.lans[lan].prefixlen
    return net


def run_cli(lab) -> None:
    net = attach(lab)
    try:
        print(f"Mininet CLI on lab {lab.name}: {len(net.hosts)} nodes. Type 'help'; 'exit' leaves the lab running.")
        CLI(net)
    finally:
        for host in net.hosts:
            host.terminate()


def run(args) -> int:
    require_root()
    run_cli(attach_lab(args))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("cli", help="Mininet's CLI on the running lab (nodes, pingall, lb1 ip route, ...)")
    add_lab_option(p)
    p.set_defaults(func=run)
