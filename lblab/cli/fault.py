"""`lblab fault ACTION key=value...`: inject one fault by hand; its parameters are validated
exactly as a scenario file's are (one model per fault, from the fault registry)."""
from __future__ import annotations

import argparse

from lblab.cli.common import add_lab_option, attach, console, require_root


def parse_params(items: list[str]) -> dict:
    """key=value words; each value is read as YAML (numbers, lists, mappings)."""
    from lbapp.documents import DocumentError, parse_yaml
    from lblab.faults import FaultError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise FaultError(f"parameter {item!r} must be key=value")
        if key in params:
            raise FaultError(f"parameter {key!r} is given twice")
        try:
            params[key] = parse_yaml(value, f"parameter {key}") if value else ""
        except DocumentError as exc:
            raise FaultError(str(exc)) from None
    return params


def run(args) -> int:
    from lblab.faults import parse_fault

    params = parse_params(args.params)
    fault = parse_fault(args.action, params)   # a bad fault is refused before the lab is touched
    require_root()
    record = fault.apply(attach(args))
    console.print(f"applied {args.action} {fault.params()}"
                  + (f" (fault id {record['id']}; undo with `lblab heal`)" if record.get("id") else ""),
                  markup=False)
    return 0


def add_parser(sub) -> None:
    from lblab.faults import FAULTS, help_lines

    table = "\n".join(f"  {action:<10} {params:<34} {summary}" for action, params, summary in help_lines())
    p = sub.add_parser("fault", help="inject a failure by hand: lblab fault ACTION key=value...",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=f"faults:\n{table}\n\nValues are YAML: groups='[[etcd1],[etcd2,etcd3]]', "
                              "set='{algorithm: maglev}', delay=50ms.")
    p.add_argument("action", choices=list(FAULTS), metavar="ACTION", help="one of the faults listed below")
    p.add_argument("params", nargs="*", help="e.g. node=lb2 daemon=lbserver")
    add_lab_option(p)
    p.set_defaults(func=run)
