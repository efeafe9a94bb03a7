"""`lblab status`: every node and daemon, BGP sessions, ECMP nexthops, the DNS VIP holder, etcd
health and Prometheus targets, as data (JSON) and as a rich rendering."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from topo import converge, procs
from topo.daemons.controlplane import Prometheus


def collect(lab) -> dict:
    lab.ledger.refresh()
    state = lab.ledger.state
    data: dict = {
        "lab": lab.name,
        "topology": state.get("topology"),
        "phase": state.get("phase"),
        "converged_s": state.get("converged_s"),
        "service": {"name": lab.topo.service.name, "anycast_vip": str(lab.topo.service.anycast_vip),
                    "dns_vip": lab.dns_vip},
        "nodes": [],
        "bgp": {},
        "ecmp": {},
        "filtered_routes": {},
        "announcers": {},
        "dns_vip_holders": [],
        "etcd": {},
        "prometheus_targets": {},
        "faults": state.get("faults", []),
    }
    for node, spec in lab.topo.nodes.items():
        daemons = []
        for daemon in lab.daemons(node):
            main = lab.process_of(daemon)
            daemons.append({"name": daemon.name,
                            "state": "never started" if main is None else procs.state(main),
                            "pid": main.pid if main else None, "log": str(daemon.log_path)})
        data["nodes"].append({"name": node, "role": spec.role, "namespace": lab.ns(node),
                              "standby": getattr(spec, "standby", False),
                              "addresses": {lan: str(a) for lan, a in spec.interfaces.items()},
                              "daemons": daemons})
    vip = f"{lab.topo.service.anycast_vip}/32"
    for router in lab.node_names("router"):
        try:
            data["bgp"][router] = converge.bgp_sessions(lab, router)
        except (OSError, ConnectionError, RuntimeError) as exc:
            data["bgp"][router] = {"error": str(exc)}
        data["ecmp"][router] = {"prefix": vip, "nexthops": converge.route_nexthops(lab, router, vip)}
        try:
            data["filtered_routes"][router] = converge.filtered_routes(lab, router)
        except (OSError, ConnectionError, RuntimeError) as exc:
            data["filtered_routes"][router] = {"error": str(exc)}
    data["announcers"] = converge.announcers(lab)
    data["dns_vip_holders"] = converge.dns_vip_holders(lab)
    for daemon in lab.all_daemons():
        if daemon.name == "etcd":
            try:
                reason = daemon.check_ready()
            except Exception as exc:
                reason = str(exc)
            data["etcd"][daemon.ctx.node] = "healthy" if reason is None else f"unhealthy: {reason}"
    for node in lab.node_names("prometheus"):
        try:
            data["prometheus_targets"] = Prometheus(lab.ctx(node)).targets_health()
        except OSError as exc:
            data["prometheus_targets"] = {"error": str(exc)}
    return data


_STATE_STYLE = {"running": "green", "stopped": "yellow", "dead": "red", "never started": "dim"}


def render(data: dict, console: Console | None = None) -> None:
    console = console or Console()
    title = (f"lab [bold]{data['lab']}[/] (topology {data['topology']}, {data['phase']}"
             + (f", converged in {data['converged_s']}s" if data.get("converged_s") else "") + ")")
    console.print(title)
    service = data["service"]
    console.print(f"service {service['name']} -> anycast {service['anycast_vip']}; DNS VIP {service['dns_vip']} "
                  f"held by [bold]{', '.join(data['dns_vip_holders']) or 'nobody'}[/]")

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("node")
    table.add_column("role")
    table.add_column("addresses")
    table.add_column("daemons (pid)")
    for node in data["nodes"]:
        daemons = " ".join(
            f"[{_STATE_STYLE.get(d['state'], 'white')}]{d['name']}"
            + (f"({d['pid']})" if d["state"] in ("running", "stopped") else f"({d['state']})") + "[/]"
            for d in node["daemons"]) or "-"
        role = node["role"] + (" (standby)" if node["standby"] else "")
        table.add_row(node["name"], role, " ".join(node["addresses"].values()), daemons)
    console.print(table)

    for router, sessions in data["bgp"].items():
        if "error" in sessions:
            console.print(f"BGP on {router}: [red]{sessions['error']}[/]")
            continue
        parts = []
        for lb, proto in sessions.items():
            established = proto.get("info") == "Established"
            announcing = data["announcers"].get(lb)
            note = "" if announcing is None else (" announcing" if announcing else " withdrawn")
            parts.append(f"[{'green' if established else 'red'}]{lb} {proto.get('info') or proto.get('state')}[/]{note}")
        console.print(f"BGP on {router}: " + ", ".join(parts))
    for router, route in data["ecmp"].items():
        hops = route["nexthops"]
        console.print(f"ECMP on {router}: {route['prefix']} via "
                      + (", ".join(hops) if hops else "[red]no route[/]") + f" ({len(hops)} nexthops)")
    for router, prefixes in data["filtered_routes"].items():
        if isinstance(prefixes, list) and prefixes:
            console.print(f"rejected by {router}'s import filter: [yellow]{', '.join(prefixes)}[/]")
    if data["etcd"]:
        console.print("etcd: " + ", ".join(
            f"[{'green' if v == 'healthy' else 'red'}]{k} {v}[/]" for k, v in data["etcd"].items()))
    targets = data["prometheus_targets"]
    if targets:
        if "error" in targets:
            console.print(f"Prometheus: [red]{targets['error']}[/]")
        else:
            down = [t for t, h in targets.items() if h != "up"]
            console.print(f"Prometheus: {len(targets) - len(down)}/{len(targets)} targets up"
                          + (f" ([red]down: {', '.join(down)}[/])" if down else ""))
    if data["faults"]:
        console.print("active faults: " + "; ".join(f"{f['action']} {f['params']}" for f in data["faults"]))


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, default=str)
