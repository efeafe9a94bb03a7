"""Fault primitives (the nemesis). Each fault that leaves something broken is recorded in the
lab's ledger with what undoes it, so `heal_all` (from any process) restores the lab."""
from __future__ import annotations

import ipaddress
import signal
import socket
import time
import uuid

from pyroute2 import NetNS

from scenarios import labapi
from topo import netns, probes, procs
from topo.spec import interface_name, link_interface_name


class FaultError(RuntimeError):
    """A fault that cannot be applied as asked (bad node, daemon, peer...)."""


class FaultSkipped(FaultError, labapi.FaultSkipped):
    """The fault needs something this machine lacks (e.g. netem); the reason says what."""


def _record(lab, action: str, params: dict, **undo) -> dict:
    record = {"id": uuid.uuid4().hex[:8], "action": action, "params": params, "t": time.time(), **undo}
    lab.ledger.add_fault(record)
    return record


def _done(action: str, params: dict, **extra) -> dict:
    return {"id": None, "action": action, "params": params, "t": time.time(), **extra}


# ---------------------------------------------------------------------------------- daemons


def _daemon(lab, node: str, daemon: str):
    return lab.daemon(node, daemon)


def _signal_fault(lab, action: str, sig: int, node: str, daemon: str) -> dict:
    pids = lab.signal_daemon(_daemon(lab, node, daemon), sig)
    if not pids:
        raise FaultError(f"{daemon} on {node} is not running")
    return _record(lab, action, {"node": node, "daemon": daemon}, pids=pids)


def kill(lab, node: str, daemon: str) -> dict:
    """Crash: SIGKILL every process of the daemon (main and children)."""
    return _signal_fault(lab, "kill", signal.SIGKILL, node, daemon)


def term(lab, node: str, daemon: str) -> dict:
    """Graceful stop: SIGTERM."""
    return _signal_fault(lab, "term", signal.SIGTERM, node, daemon)


def stop(lab, node: str, daemon: str) -> dict:
    """Hang: SIGSTOP (undone by cont or heal)."""
    return _signal_fault(lab, "stop", signal.SIGSTOP, node, daemon)


def cont(lab, node: str, daemon: str) -> dict:
    target = _daemon(lab, node, daemon)
    pids = lab.signal_daemon(target, signal.SIGCONT)
    for fault in lab.ledger.faults():
        if fault["action"] == "stop" and fault["params"] == {"node": node, "daemon": daemon}:
            lab.ledger.remove_fault(fault["id"])
    return _done("cont", {"node": node, "daemon": daemon}, pids=pids)


def restart(lab, node: str, daemon: str, wait: bool = True) -> dict:
    target = _daemon(lab, node, daemon)
    lab.restart_daemon(target, wait=wait)
    for fault in lab.ledger.faults():
        if fault["action"] in ("kill", "term", "stop") and fault["params"] == {"node": node, "daemon": daemon}:
            lab.ledger.remove_fault(fault["id"])
    return _done("restart", {"node": node, "daemon": daemon})


# ---------------------------------------------------------------------------------- links


def _set_links(lab, node: str, interfaces: list[str], state: str) -> None:
    with NetNS(lab.ns(node)) as ns:
        for ifname in interfaces:
            for index in ns.link_lookup(ifname=ifname):
                ns.link("set", index=index, state=state)


def _node_interfaces(lab, node: str) -> list[str]:
    names = [interface_name(lan) for lan in lab.topo.nodes[node].interfaces]
    for link in lab.topo.links:
        if node in link.ends:
            peer = next(n for n in link.ends if n != node)
            names.append(link_interface_name(peer))
    return names


def _interface_towards(lab, node: str, peer: str) -> str:
    spec = lab.topo.nodes.get(node)
    if spec is None:
        raise FaultError(f"no node {node!r}")
    if peer in lab.topo.lans:
        if peer not in spec.interfaces:
            raise FaultError(f"{node} is not on LAN {peer}")
        return interface_name(peer)
    if peer not in lab.topo.nodes:
        raise FaultError(f"{peer!r} is neither a node nor a LAN")
    for link in lab.topo.links:
        if node in link.ends and peer in link.ends:
            return link_interface_name(peer)
    shared = [lan for lan in spec.interfaces if lan in lab.topo.nodes[peer].interfaces]
    if not shared:
        raise FaultError(f"{node} and {peer} share no link or LAN")
    return interface_name(shared[0])


def link_down(lab, node: str, peer: str) -> dict:
    ifname = _interface_towards(lab, node, peer)
    _set_links(lab, node, [ifname], "down")
    return _record(lab, "link_down", {"node": node, "peer": peer}, interface=ifname)


def link_up(lab, node: str, peer: str) -> dict:
    ifname = _interface_towards(lab, node, peer)
    _set_links(lab, node, [ifname], "up")
    _restore_routes(lab, node)
    for fault in lab.ledger.faults():
        if fault["action"] == "link_down" and fault["params"] == {"node": node, "peer": peer}:
            lab.ledger.remove_fault(fault["id"])
    return _done("link_up", {"node": node, "peer": peer})


def _restore_routes(lab, node: str) -> None:
    """Routes through an interface vanish when it goes down; put the node's default back."""
    gateway = lab.topo.nodes[node].gateway
    if gateway is None:
        return
    with NetNS(lab.ns(node)) as ns:
        try:
            ns.route("replace", dst="0.0.0.0/0", gateway=str(gateway))
        except Exception:  # gateway not reachable yet (its link still down)
            pass


# ---------------------------------------------------------------------------------- nodes


def node_down(lab, node: str) -> dict:
    """A dead host: every link down at once, then every lab process on it killed."""
    if node not in lab.topo.nodes:
        raise FaultError(f"no node {node!r}")
    _set_links(lab, node, _node_interfaces(lab, node), "down")
    killed = []
    for daemon in lab.daemons(node):
        killed += lab.signal_daemon(daemon, signal.SIGKILL)
    return _record(lab, "node_down", {"node": node}, pids=killed)


def node_up(lab, node: str, wait: bool = True) -> dict:
    """The host boots again: addresses as in the topology (a killed keepalived leaves its VIP
    configured; a rebooted kernel would not), links up, routes, every daemon started."""
    spec = lab.topo.nodes[node]
    wanted = {str(a) for a in spec.interfaces.values()}
    wanted |= {str(e.ip) for link in lab.topo.links for n, e in link.ends.items() if n == node}
    with NetNS(lab.ns(node)) as ns:
        for ifname in _node_interfaces(lab, node):
            for index in ns.link_lookup(ifname=ifname):
                for addr in ns.get_addr(index=index, family=socket.AF_INET):
                    if addr.get_attr("IFA_ADDRESS") not in wanted:
                        ns.addr("del", index=index, address=addr.get_attr("IFA_ADDRESS"),
                                prefixlen=addr["prefixlen"])
    _set_links(lab, node, _node_interfaces(lab, node), "up")
    _restore_routes(lab, node)
    for wave in sorted({d.wave for d in lab.daemons(node)}):
        dead = [d for d in lab.daemons(node) if d.wave == wave and lab.daemon_state(d) != "running"]
        for daemon in dead:
            lab.stop_daemon(daemon)
        lab.start_daemons(dead, wait=wait)
    for fault in lab.ledger.faults():
        if fault["params"].get("node") == node and fault["action"] in ("node_down", "kill", "term", "stop"):
            lab.ledger.remove_fault(fault["id"])
    return _done("node_up", {"node": node})


# ------------------------------------------------------------------------- nftables faults


def _table(fault_id: str) -> str:
    return f"lblab_{fault_id}"


def _nft(lab, node: str, script: str) -> None:
    result = netns.run(lab.ns(node), ["nft", "-f", "-"], input=script)
    if result.returncode != 0:
        raise FaultError(f"nft on {node}: {result.stderr.strip()}")


def _addresses(lab, nodes: list[str]) -> list[str]:
    found = []
    for node in nodes:
        spec = lab.topo.nodes.get(node)
        if spec is None:
            raise FaultError(f"no node {node!r}")
        found += [str(a) for a in spec.interfaces.values()]
        found += [str(e.ip) for link in lab.topo.links for n, e in link.ends.items() if n == node]
    return found


def partition(lab, groups: list[list[str]]) -> dict:
    fault_id = uuid.uuid4().hex[:8]
    tables = []
    for i, group in enumerate(groups):
        others = [n for j, g in enumerate(groups) if j != i for n in g]
        blocked = ", ".join(_addresses(lab, others))
        for node in group:
            _nft(lab, node, f"""
table inet {_table(fault_id)} {{
  chain input {{ type filter hook input priority -10; ip saddr {{ {blocked} }} drop; }}
  chain output {{ type filter hook output priority -10; ip daddr {{ {blocked} }} drop; }}
}}
""")
            tables.append(node)
    record = {"id": fault_id, "action": "partition", "params": {"groups": groups}, "t": time.time(),
              "nft_nodes": tables}
    lab.ledger.add_fault(record)
    return record


def loss(lab, node: str, percent: float, peer: str | None = None) -> dict:
    # replace an earlier loss rule on the same node/peer
    for fault in lab.ledger.faults():
        if fault["action"] == "loss" and fault["params"].get("node") == node and fault["params"].get("peer") == peer:
            _undo(lab, fault)
    if percent <= 0:
        return _done("loss", {"node": node, "percent": 0, "peer": peer})
    fault_id = uuid.uuid4().hex[:8]
    match_in = match_out = ""
    if peer is not None:
        peers = ", ".join(_addresses(lab, [peer]))
        match_in, match_out = f"ip saddr {{ {peers} }} ", f"ip daddr {{ {peers} }} "
    threshold = round(percent * 100)  # in 1/10000
    sample = "" if threshold >= 10000 else f"numgen random mod 10000 < {max(1, threshold)} "
    _nft(lab, node, f"""
table inet {_table(fault_id)} {{
  chain input {{ type filter hook input priority -10; {match_in}{sample}drop; }}
  chain output {{ type filter hook output priority -10; {match_out}{sample}drop; }}
}}
""")
    record = {"id": fault_id, "action": "loss", "params": {"node": node, "percent": percent, "peer": peer},
              "t": time.time(), "nft_nodes": [node]}
    lab.ledger.add_fault(record)
    return record


def heal(lab, groups: list[list[str]] | None = None) -> dict:
    healed = []
    for fault in lab.ledger.faults():
        if fault["action"] == "loss" or (fault["action"] == "partition" and
                                         (groups is None or fault["params"]["groups"] == groups)):
            _undo(lab, fault)
            healed.append(fault["id"])
    return _done("heal", {"groups": groups}, healed=healed)


# ---------------------------------------------------------------------------------- netem


def delay(lab, node: str, delay: float, jitter: float = 0.0, peer: str | None = None) -> dict:
    interfaces = [_interface_towards(lab, node, peer)] if peer else _node_interfaces(lab, node)
    applied = []
    for ifname in interfaces:
        args = ["tc", "qdisc", "replace", "dev", ifname, "root", "netem", "delay", f"{delay * 1000:.1f}ms"]
        if jitter:
            args.append(f"{jitter * 1000:.1f}ms")
        result = netns.run(lab.ns(node), args)
        if result.returncode != 0:
            for done in applied:
                netns.run(lab.ns(node), ["tc", "qdisc", "del", "dev", done, "root"])
            if "unknown" in result.stderr.lower() or "no such file" in result.stderr.lower():
                raise FaultSkipped(f"delay needs the netem qdisc, which this kernel lacks "
                                   f"(tc: {result.stderr.strip()})")
            raise FaultError(f"tc on {node}: {result.stderr.strip()}")
        applied.append(ifname)
    return _record(lab, "delay", {"node": node, "delay": delay, "jitter": jitter, "peer": peer},
                   interfaces=applied)


def netem_available(lab, node: str) -> tuple[bool, str]:
    """Probe once by adding and removing netem on the node's loopback."""
    result = netns.run(lab.ns(node), ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
    if result.returncode == 0:
        netns.run(lab.ns(node), ["tc", "qdisc", "del", "dev", "lo", "root"])
        return True, ""
    return False, result.stderr.strip()


# ---------------------------------------------------------------------------------- LB drain


def drain(lab, node: str) -> dict:
    spec = lab.topo.nodes.get(node)
    if spec is None or spec.role != "lb":
        raise FaultError(f"{node!r} is not an LB node")
    conn = probes._NamespacedHTTPConnection(lab.ns(node), "127.0.0.1", spec.admin_port, timeout=2.0)
    try:
        conn.request("POST", "/-/drain")
        status = conn.getresponse().status
    except OSError as exc:
        raise FaultError(f"drain {node}: {exc}") from None
    finally:
        conn.close()
    if status not in (200, 202):
        raise FaultError(f"drain {node}: LB answered HTTP {status}")
    return _record(lab, "drain", {"node": node})


def undrain(lab, node: str, wait: bool = True) -> dict:
    lbserver = lab.daemon(node, "lbserver")
    main = lab.process_of(lbserver)
    if main is not None:
        procs.wait_dead(main, timeout=30)
    if lab.daemon_state(lbserver) != "running":
        lab.start_daemon(lbserver, wait=wait)
    for fault in lab.ledger.faults():
        if fault["action"] == "drain" and fault["params"] == {"node": node}:
            lab.ledger.remove_fault(fault["id"])
    return _done("undrain", {"node": node})


# ---------------------------------------------------------------------------------- config


def config(lab, lb_id: str, set: dict, wait: bool = True) -> dict:
    """Change an LB's config the way the console does (validate, write etcd, publish on Redis),
    then measure how long each running LB server took to serve it."""
    from topo.configdb import ConfigDbError, change_config, wait_applied

    try:
        written = change_config(lab, lb_id, set)
    except ConfigDbError as exc:
        raise FaultError(str(exc)) from None
    record = _record(lab, "config", {"lb_id": lb_id, "set": set}, **written)
    if wait:
        lbs = [n for n in lab.node_names("lb") if lab.daemon_state(lab.daemon(n, "lbserver")) == "running"]
        poll_ms = {**written["previous"], **set}.get("poll_frequency", 5000)
        timeout = poll_ms / 1000 * 1.5 + 5
        try:
            record["applied"] = wait_applied(lab, lbs, written["revision"], written["written_at"], timeout)
        except ConfigDbError as exc:
            raise FaultError(str(exc)) from None
    return record


# ---------------------------------------------------------------------------------- BGP


def _speaker(lab, node: str):
    from topo.daemons.bird import BirdSpeaker

    if node not in lab.topo.nodes:
        raise FaultError(f"no node {node!r} in lab {lab.name}")
    speaker = next((d for d in lab.daemons(node) if isinstance(d, BirdSpeaker)), None)
    if speaker is None:
        raise FaultError(f"{node} runs no BGP speaker: announce/withdraw need an LB node")
    return speaker


def _announced(lab, node: str) -> list[dict]:
    return [f for f in lab.ledger.faults() if f["action"] == "announce" and f["params"]["node"] == node]


def _prefix(action: str, prefix: str) -> str:
    try:
        return str(ipaddress.ip_network(prefix, strict=True))
    except ValueError as exc:
        raise FaultError(f"{action}: prefix {prefix!r}: {exc}") from None


def _rogue_route(lab, speaker, verb: str, prefix: str) -> None:
    node = speaker.ctx.node
    result = netns.run(lab.ns(node), ["ip", "route", verb, "blackhole", prefix,
                                      "table", str(speaker.ROGUE_TABLE), "proto", "static"])
    if result.returncode != 0:
        raise FaultError(f"{node}: ip route {verb} {prefix}: {result.stderr.strip()}")


def _learnt_rogue_routes(speaker) -> list[str]:
    """Prefixes the speaker's BIRD has learnt from its rogue kernel table."""
    try:
        return speaker.control().route_prefixes(f"show route protocol {speaker.ROGUE_PROTOCOL}")
    except (OSError, ConnectionError, RuntimeError):
        return []


def announce(lab, node: str, prefix: str, wait: bool = True) -> dict:
    """A rogue or mistaken speaker: the node's BIRD announces `prefix` to its router(s), whose
    import filter must drop it (undone by withdraw or heal). With wait, returns once the node's
    BIRD has learnt the route (it then goes out on its BGP sessions at once)."""
    net = _prefix("announce", prefix)
    speaker = _speaker(lab, node)
    if any(f["params"]["prefix"] == net for f in _announced(lab, node)):
        raise FaultError(f"{node} announces {net} already")
    _rogue_route(lab, speaker, "add", net)
    record = _record(lab, "announce", {"node": node, "prefix": net})
    if wait and lab.daemon_state(speaker) == "running":
        deadline = time.monotonic() + 3
        while net not in _learnt_rogue_routes(speaker):
            if time.monotonic() > deadline:
                raise FaultError(f"BIRD on {node} did not learn {net} from kernel table "
                                 f"{speaker.ROGUE_TABLE} within 3 s (log {speaker.log_path})")
            time.sleep(0.02)
    return record


def withdraw(lab, node: str, prefix: str) -> dict:
    """Stop announcing a prefix an earlier `announce` made the node send."""
    net = _prefix("withdraw", prefix)
    _speaker(lab, node)
    announced = _announced(lab, node)
    fault = next((f for f in announced if f["params"]["prefix"] == net), None)
    if fault is None:
        listed = ", ".join(f["params"]["prefix"] for f in announced) or "nothing"
        raise FaultError(f"{node} does not announce {net} (it announces {listed})")
    _undo(lab, fault)
    return _done("withdraw", {"node": node, "prefix": net})


# ---------------------------------------------------------------------------------- dispatch

ACTIONS = {
    "kill": kill, "term": term, "stop": stop, "cont": cont, "restart": restart,
    "node_down": node_down, "node_up": node_up, "link_down": link_down, "link_up": link_up,
    "partition": partition, "heal": heal, "loss": loss, "delay": delay,
    "drain": drain, "undrain": undrain, "config": config,
    "announce": announce, "withdraw": withdraw,
}


def apply(lab, action: str, **params) -> dict:
    handler = ACTIONS.get(action)
    if handler is None:
        raise FaultError(f"unknown fault {action!r} (known: {', '.join(sorted(ACTIONS))})")
    try:
        return handler(lab, **params)
    except TypeError as exc:
        raise FaultError(f"{action}: {exc}") from None


def _undo(lab, fault: dict) -> None:
    action, params = fault["action"], fault["params"]
    if action in ("partition", "loss"):
        for node in fault.get("nft_nodes", []):
            netns.run(lab.ns(node), ["nft", "delete", "table", "inet", _table(fault["id"])])
    elif action == "delay":
        for ifname in fault.get("interfaces", []):
            netns.run(lab.ns(params["node"]), ["tc", "qdisc", "del", "dev", ifname, "root"])
    elif action == "stop":
        target = lab.daemon(params["node"], params["daemon"])
        lab.signal_daemon(target, signal.SIGCONT)
    elif action == "link_down":
        _set_links(lab, params["node"], [fault["interface"]], "up")
        _restore_routes(lab, params["node"])
    elif action == "announce":
        _rogue_route(lab, _speaker(lab, params["node"]), "del", params["prefix"])
    elif action == "config":
        from topo.configdb import publish_changed, put_config, wait_applied

        revision, written_at = put_config(lab, params["lb_id"], fault["previous"])
        publish_changed(lab, params["lb_id"])
        lbs = [n for n in lab.node_names("lb") if lab.daemon_state(lab.daemon(n, "lbserver")) == "running"]
        wait_applied(lab, lbs, revision, written_at, timeout=30)
    lab.ledger.remove_fault(fault["id"])


def heal_all(lab, wait: bool = True) -> list[str]:
    """Undo every recorded fault (newest first), start every daemon that is not running, and
    last (the config DB is running again by then) put back configs that faults changed."""
    done = []
    faults = list(reversed(lab.ledger.faults()))
    for fault in faults:
        action = fault["action"]
        if action == "config":
            continue
        if action == "node_down":
            node_up(lab, fault["params"]["node"], wait=wait)
        elif action == "drain":
            undrain(lab, fault["params"]["node"], wait=wait)
        elif action in ("kill", "term"):
            lab.ledger.remove_fault(fault["id"])  # restarted below with every dead daemon
        else:
            _undo(lab, fault)
        done.append(f"{action} {fault['params']}")
    for wave in sorted({d.wave for d in lab.all_daemons()}):
        dead = []
        for daemon in (d for d in lab.all_daemons() if d.wave == wave):
            state = lab.daemon_state(daemon)
            if state == "stopped":
                lab.signal_daemon(daemon, signal.SIGCONT)
                done.append(f"continued {daemon.name} on {daemon.ctx.node}")
            elif state != "running":
                lab.stop_daemon(daemon)
                dead.append(daemon)
                done.append(f"restarted {daemon.name} on {daemon.ctx.node}")
        lab.start_daemons(dead, wait=wait)
    for fault in faults:
        if fault["action"] == "config":
            _undo(lab, fault)
            done.append(f"config of {fault['params']['lb_id']} restored")
    return done
