"""The `lblab` command."""
from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

# Piped output (CI logs, `| less`) is not wrapped at rich's default 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)



def _user_errors() -> tuple[type[BaseException], ...]:
    from scenarios.spec import ScenarioError
    from topo.faults import FaultError
    from topo.lab import LabError
    from topo.network import NetworkError
    from topo.spec import TopologyError

    return (TopologyError, LabError, FaultError, NetworkError, ScenarioError)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("lblab: this command needs root (network namespaces, bridges, daemons)")


def _lab_name(args) -> str:
    from topo.lab import Lab

    return args.lab or Lab.default_name()


def cmd_up(args) -> int:
    from topo.lab import Lab

    _require_root()
    lab = Lab.up(args.topo, name=args.lab, progress=console.print, converge_timeout=args.timeout)
    console.print(f"[green]lab {lab.name} is up[/] (converged in {lab.ledger.state.get('converged_s')}s). "
                  f"Try: lblab status --lab {lab.name}; lblab exec client1 -- curl -s http://{lab.topo.service.name}/")
    return 0


def cmd_down(args) -> int:
    from topo.lab import teardown

    _require_root()
    teardown(_lab_name(args), keep_logs=args.keep_logs, progress=console.print)
    return 0


def cmd_status(args) -> int:
    from topo import status
    from topo.lab import Lab

    _require_root()
    data = status.collect(Lab.attach(_lab_name(args)))
    if args.json:
        print(status.to_json(data))
    else:
        status.render(data, console)
    return 0


def cmd_exec(args) -> int:
    from topo import netns
    from topo.lab import Lab

    _require_root()
    command = list(args.command)
    while command[:1] == ["--lab"] and len(command) >= 2:  # `lblab exec NODE --lab L -- CMD`
        args.lab, command = command[1], command[2:]
    command = command[1:] if command[:1] == ["--"] else command
    lab = Lab.attach(_lab_name(args))
    if not command:
        raise SystemExit("lblab exec: give a command after --, e.g. lblab exec client1 -- ip route")
    os.execvp("ip", netns.exec_argv(lab.ns(args.node), command))


def cmd_cli(args) -> int:
    from topo.lab import Lab
    from topo.mncli import run_cli

    _require_root()
    run_cli(Lab.attach(_lab_name(args)))
    return 0


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def cmd_fault(args) -> int:
    from topo.lab import Lab

    _require_root()
    lab = Lab.attach(_lab_name(args))
    params = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"lblab fault: parameter {item!r} must be key=value")
        params[key] = _parse_value(value)
    record = lab.fault(args.action, **params)
    console.print(f"applied {args.action} {params}" + (f" (fault id {record['id']}; undo with `lblab heal`)"
                                                       if record.get("id") else ""))
    return 0


def cmd_heal(args) -> int:
    from topo.lab import Lab

    _require_root()
    lab = Lab.attach(_lab_name(args))
    done = lab.heal_all()
    for line in done:
        console.print(f"healed: {line}")
    elapsed = lab.wait_converged(timeout=args.timeout)
    console.print(f"[green]lab {lab.name} converged[/] {elapsed:.1f}s after heal")
    return 0


def cmd_scenario(args) -> int:
    from topo import scenario_cmd

    if args.scenario_command == "list":
        return scenario_cmd.list_all(console)
    _require_root()
    return scenario_cmd.run(args, console)


def cmd_demo(args) -> int:
    from topo.demo import run_demo

    _require_root()
    return run_demo(args, console)


def cmd_labs(args) -> int:
    from topo.ledger import known_labs

    labs = known_labs()
    console.print("\n".join(labs) if labs else "no lab is running")
    return 0


def cmd_check(args) -> int:
    from topo.spec import load_topology

    topo = load_topology(args.file)
    console.print(f"[green]{args.file}: valid[/] ({len(topo.nodes)} nodes, {len(topo.lans)} LANs, scaling {topo.scaling})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lblab", description="Network-emulation lab for a highly available load balancer.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="build a lab from a topology and wait until it has converged")
    p.add_argument("--topo", default="reference", help="topology name in topo/ or a YAML path (default: reference)")
    p.add_argument("--lab", help="lab name (default: the topology's name)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for convergence")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop and remove exactly what a lab created")
    p.add_argument("--lab")
    p.add_argument("--keep-logs", action="store_true", help="keep the lab's configs and logs in /run/lblab/LAB")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="nodes, daemons, BGP, ECMP, DNS VIP, etcd, Prometheus")
    p.add_argument("--lab")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("exec", help="run a command inside a node: lblab exec NODE -- CMD...")
    p.add_argument("node")
    p.add_argument("--lab")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("cli", help="Mininet's CLI on the running lab")
    p.add_argument("--lab")
    p.set_defaults(func=cmd_cli)

    p = sub.add_parser("fault", help="inject a failure by hand: lblab fault ACTION key=value...")
    p.add_argument("action", help="kill|term|stop|cont|restart|node_down|node_up|link_down|link_up|"
                                  "partition|heal|loss|delay|drain|undrain|config")
    p.add_argument("params", nargs="*", help="e.g. node=lb2 daemon=lbserver")
    p.add_argument("--lab")
    p.set_defaults(func=cmd_fault)

    p = sub.add_parser("heal", help="undo every active fault and wait until the lab has converged")
    p.add_argument("--lab")
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_heal)

    p = sub.add_parser("scenario", help="failure scenarios")
    ssub = p.add_subparsers(dest="scenario_command", required=True)
    sp = ssub.add_parser("run", help="run a scenario against a lab (brought up if none is running)")
    sp.add_argument("name", help="scenario name in scenarios/ or a YAML path")
    sp.add_argument("--lab")
    sp.add_argument("--json", metavar="FILE", help="write the JSON result here")
    sp.add_argument("--out", metavar="DIR", help="directory for histories and results (default results/)")
    sp.add_argument("--keep-lab", action="store_true", help="leave a lab this command brought up running")
    sp.add_argument("--live", action="store_true", help="print a live per-second readout")
    ssub.add_parser("list", help="list scenarios")
    p.set_defaults(func=cmd_scenario)

    p = sub.add_parser("demo", help="bring up the reference lab, send traffic, inject failures live, tear down")
    p.add_argument("--topo", default="reference")
    p.add_argument("--keep-lab", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("labs", help="list running labs")
    p.set_defaults(func=cmd_labs)

    p = sub.add_parser("check", help="validate a topology file")
    p.add_argument("file")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    except _user_errors() as exc:
        err_console.print(f"[red]lblab: {exc}[/]", soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
