"""`lblab status`: every node and daemon, then what each node kind present adds (BGP and BFD
sessions, ECMP nexthops, the DNS VIP holder and answers, etcd health, Prometheus targets ...)
and what the scaling mode adds (LB VIPs and VRRP states, a static route, DNS records), as data
(JSON) and as a rich rendering."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from lblab.kinds import kind_of
from lblab.kinds.scaling import mode_of


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
        "faults": state.get("faults", []),
    }
    for node, spec in lab.topo.nodes.items():
        daemons = []
        for daemon in lab.daemons(node):
            main = lab.process_of(daemon)
            daemons.append({"name": daemon.name, "state": lab.daemon_state(daemon),
                            "pid": main.pid if main else None, "log": str(daemon.log_path)})
        data["nodes"].append({"name": node, "role": spec.role, "namespace": lab.ns(node),
                              "standby": getattr(spec, "standby", False),
                              "addresses": {lan: str(a) for lan, a in spec.interfaces.items()},
                              "daemons": daemons})
    data["scaling"] = lab.topo.scaling
    for kind in lab.kinds():
        data.update(kind.status(lab))
    data.update(lab.mode.status(lab))
    return data


_STATE_STYLE = {"running": "green", "stopped": "yellow", "dead": "red", "never started": "dim", "held": "dim"}


def render(data: dict, console: Console | None = None) -> None:
    console = console or Console()
    title = (f"lab [bold]{data['lab']}[/] (topology {data['topology']}, {data['phase']}"
             + (f", converged in {data['converged_s']}s" if data.get("converged_s") else "") + ")")
    console.print(title)
    service = data["service"]
    holders = data.get("dns_vip_holders")
    mode = mode_of(data["scaling"])
    console.print(f"service {service['name']}, scaling {mode.name} ({mode.summary}); DNS VIP {service['dns_vip']}"
                  + (f" held by [bold]{', '.join(holders) or 'nobody'}[/]" if holders is not None else ""))

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("node", "role", "addresses", "daemons (pid)"):
        table.add_column(column)
    for node in data["nodes"]:
        daemons = " ".join(
            f"[{_STATE_STYLE.get(d['state'], 'white')}]{d['name']}"
            + (f"({d['pid']})" if d["state"] in ("running", "stopped") else f"({d['state']})") + "[/]"
            for d in node["daemons"]) or "-"
        role = node["role"] + (" (standby)" if node["standby"] else "")
        table.add_row(node["name"], role, " ".join(node["addresses"].values()), daemons)
    console.print(table)
    for role in dict.fromkeys(node["role"] for node in data["nodes"]):
        kind_of(role).render_status(data, console)
    mode.render_status(data, console)
    if data["faults"]:
        console.print("active faults: " + "; ".join(f"{f['action']} {f['params']}" for f in data["faults"]))


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, default=str)
