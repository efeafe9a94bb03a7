"""`lblab console ...`: read and change LB configs through the lab's console API (as the web UI
does): every write is validated by the console, guarded by the version just read, audited and
published; the command then waits until every running LB server serves it.

    lblab console get                              config, version, what each LB server serves
    lblab console set algorithm=maglev 'weights={be1: 3}'     keys replace the stored ones
    lblab console backend add 10.1.0.17:8080 --name be7 [--weight 2]
    lblab console backend remove be7
    lblab console weights be1=3 be2=1
    lblab console algorithm maglev ['--hash={key: "header:X-User"}']
    lblab console drain lb2 / undrain lb2
    lblab console audit [--limit 20]
"""
from __future__ import annotations

import argparse
import json

from lblab.cli.common import add_lab_option, attach, console, require_root

WRITES = ("set", "backend", "weights", "algorithm")     # sub-commands that are one edit


def _yaml_value(text: str, what: str):
    from lbapp.documents import DocumentError, parse_yaml
    from lblab.lab.consoleapi import ConsoleApiError

    try:
        return parse_yaml(text, what) if text else ""
    except DocumentError as exc:
        raise ConsoleApiError(str(exc)) from None


def name_values(items: list[str], what: str) -> dict:
    """NAME=VALUE words (VALUE read as YAML; the console judges it); NAME may hold ':' or '.'."""
    from lblab.lab.consoleapi import ConsoleApiError

    found: dict = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise ConsoleApiError(f"{what} {item!r} must be NAME=VALUE")
        if name in found:
            raise ConsoleApiError(f"{what} {name!r} is given twice")
        found[name] = _yaml_value(value, f"{what} {name}")
    return found


def backend_body(address_port: str, name: str | None, weight: str | None) -> dict:
    """ADDRESS:PORT (+ name, weight) as the console's add-backend body; the console checks it."""
    from lblab.lab.consoleapi import ConsoleApiError

    address, sep, port = address_port.rpartition(":")
    if not sep or not address:
        raise ConsoleApiError(f"backend {address_port!r} must be ADDRESS:PORT")
    body: dict = {"address": address, "port": int(port) if port.isdigit() else port}
    if name is not None:
        body["name"] = name
    if weight is not None:
        body["weight"] = _yaml_value(weight, "--weight")
    return body


def edit_of(args) -> tuple[str, object, str]:
    """(edit kind of lblab.lab.consoleapi.edit_request, its value, what it is) of a write."""
    command = args.console_command
    if command == "set":
        changes = name_values(args.changes, "key")
        return "set", changes, "set " + ", ".join(changes)
    if command == "weights":
        return "weights", name_values(args.weights, "weight"), "set weights"
    if command == "algorithm":
        body = {"algorithm": args.name}
        if args.hash is not None:
            body["hash"] = _yaml_value(args.hash, "--hash")
        return "algorithm", body, f"algorithm {args.name}"
    if args.backend_command == "add":
        return ("add_backend", backend_body(args.address, args.name, args.weight),
                f"add backend {args.address}")
    return "remove_backend", args.name, f"remove backend {args.name}"


def report_written(lab, lb_id: str, what: str, answer: dict, wait: bool) -> None:
    from lblab.lab.propagation import running_lbs, wait_applied

    console.print(f"{lb_id}: {what} -> version {answer['version']} (audit {answer['audit_id']}, "
                  f"published to {answer['published_to']} subscriber(s))", markup=False)
    if wait:
        served = wait_applied(lab, running_lbs(lab), answer["version"], answer["committed_at"],
                              timeout=30)
        console.print("served by " + ", ".join(f"{lb} in {s * 1000:.0f} ms"
                                               for lb, s in sorted(served.items())), markup=False)


def show(view: dict) -> None:
    console.print(f"[bold]{view['lb_id']}[/]: version {view['version']}, algorithm "
                  f"{view['algorithm']}" + ("" if view["all_serving"] else
                                            " [yellow](not served everywhere yet)[/]"))
    for server in view["servers"]:
        state = (f"serves version {server['version']}" if server.get("reachable")
                 else f"unreachable ({server.get('error')})")
        console.print(f"  {server['node']}: {state}" + (" draining" if server.get("draining") else ""),
                      markup=False)
    for backend in view["backend_details"]:
        health = {True: "healthy", False: "unhealthy", None: "no health report"}[backend["health"]]
        console.print(f"  backend {backend['name']}: weight {backend['weight']}, {health}",
                      markup=False)
    if view.get("drained"):
        console.print(f"  drained: {', '.join(sorted(view['drained']))}", markup=False)
    console.print(json.dumps(view["config"], indent=2), markup=False, highlight=False)


def run(args) -> int:
    from lblab.faults.drain import wait_agent
    from lblab.lab.consoleapi import ConsoleApi

    # words are checked before the lab is touched
    edit = edit_of(args) if args.console_command in WRITES else None
    require_root()
    lab = attach(args)
    api = ConsoleApi(lab)
    lb_id = args.lb or lab.topo.service.lb_id
    command = args.console_command
    if command == "get":
        view = api.lb(lb_id)
        if args.json:
            print(json.dumps(view, indent=2))
        else:
            show(view)
    elif command == "audit":
        for entry in api.audit(lb_id, args.limit):
            console.print(f"v{entry.get('version')} {entry.get('who')} {entry.get('action')}: "
                          + "; ".join(f"{d.get('field')} {d.get('before', '-')!r} -> {d.get('after', '-')!r}"
                                      for d in entry.get("diff", [])), markup=False)
    elif edit is not None:
        kind, value, what = edit
        report_written(lab, lb_id, what, api.edit(lb_id, kind, value), not args.no_wait)
    else:
        answer = api.set_drain(lb_id, args.node, command == "drain")
        console.print(f"{lb_id}: {command} {args.node} (etcd revision {answer['revision']}"
                      + (f"; LB server: {answer['lb_server']}" if "lb_server" in answer else "")
                      + ")", markup=False)
        if command == "undrain" and args.node in lab.node_names("lb"):
            state = wait_agent(lab, args.node)
            console.print(f"{args.node}: LB server {state} (its agent starts it once the drain key "
                          "is gone and the node is wanted active)", markup=False)
    return 0


def add_parser(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_lab_option(common)
    common.add_argument("--lb", metavar="LB_ID", help="load balancer (default: the lab's service)")
    writes = argparse.ArgumentParser(add_help=False, parents=[common])
    writes.add_argument("--no-wait", action="store_true",
                        help="do not wait until every running LB server serves the change")

    p = sub.add_parser("console", help="read and change LB configs through the lab's console API",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="console_command", required=True)
    g = csub.add_parser("get", parents=[common], help="config, version, what each LB server serves")
    g.add_argument("--json", action="store_true", help="the console's answer as JSON")
    s = csub.add_parser("set", parents=[writes], help="replace config keys: KEY=VALUE (YAML; null removes)")
    s.add_argument("changes", nargs="+", metavar="KEY=VALUE")
    b = csub.add_parser("backend", help="add or remove a backend")
    bsub = b.add_subparsers(dest="backend_command", required=True)
    ba = bsub.add_parser("add", parents=[writes], help="add ADDRESS:PORT")
    ba.add_argument("address", metavar="ADDRESS:PORT")
    ba.add_argument("--name")
    ba.add_argument("--weight")
    br = bsub.add_parser("remove", parents=[writes], help="remove a backend by name")
    br.add_argument("name")
    w = csub.add_parser("weights", parents=[writes], help="set weights: NAME=WEIGHT ...")
    w.add_argument("weights", nargs="+", metavar="NAME=WEIGHT")
    a = csub.add_parser("algorithm", parents=[writes], help="change the algorithm")
    a.add_argument("name")
    a.add_argument("--hash", metavar="YAML", help="hash options, e.g. '{key: client_ip}'")
    for verb in ("drain", "undrain"):
        d = csub.add_parser(verb, parents=[common], help=f"{verb} an LB server")
        d.add_argument("node")
    au = csub.add_parser("audit", parents=[common], help="the newest changes")
    au.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=run)
