"""`lblab up`: build a lab from a topology and wait until it has converged."""
from __future__ import annotations

from lblab.cli.common import console, require_root


def run(args) -> int:
    from lblab.lab.instance import Lab

    require_root()
    lab = Lab.up(args.topo, name=args.lab, progress=console.print, converge_timeout=args.timeout)
    console.print(f"[green]lab {lab.name} is up[/] (converged in {lab.ledger.state.get('converged_s')}s). "
                  f"Try: lblab status --lab {lab.name}; lblab exec client1 -- curl -s http://{lab.topo.service.name}/")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("up", help="build a lab from a topology and wait until it has converged")
    p.add_argument("--topo", default="reference", help="topology name in topo/ or a YAML path (default: reference)")
    p.add_argument("--lab", help="lab name (default: the topology's name)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for convergence")
    p.set_defaults(func=run)
