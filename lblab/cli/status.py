"""`lblab status`: nodes, daemons, and what each node kind adds (BGP, ECMP, DNS VIP, etcd, ...)."""
from __future__ import annotations

from lblab.cli.common import add_lab_option, attach, console, require_root


def run(args) -> int:
    from lblab import status

    require_root()
    data = status.collect(attach(args))
    if args.json:
        print(status.to_json(data))
    else:
        status.render(data, console)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="nodes, daemons, and per scaling mode: BGP/BFD, nexthops, VRRP, DNS answers and records")
    add_lab_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
