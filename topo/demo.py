"""`lblab demo` (what `make demo` runs): bring up the reference lab with progress, show its
status, run the `demo` scenario with a live per-second readout of what clients see while an LB
process, an LB node and the primary DNS server fail and come back, print the report, tear down."""
from __future__ import annotations

import time

from rich.console import Console
from rich.rule import Rule

from scenarios.report import render
from topo import status
from topo.lab import Lab, teardown
from topo.ledger import Ledger
from topo.scenario_cmd import REPO, run_one


def run_demo(args, console: Console) -> int:
    lab_name = "demo"
    console.print(Rule(f"1. bring up the {args.topo} lab"))
    if Ledger(lab_name).exists():
        console.print("a previous demo lab is still there: removing it first")
        teardown(lab_name, progress=console.print)
    lab = Lab.up(args.topo, name=lab_name, progress=console.print)
    try:
        console.print(Rule("2. the converged lab (lblab status)"))
        status.render(status.collect(lab), console)
        console.print(Rule("3. traffic by name through DNS + anycast, with failures injected live"))
        console.print("Each line is one second of client traffic: requests ok/failed, and which LB and "
                      "backend served them. Watch lb2, then lb3 disappear and come back, and DNS move "
                      "from dns1 to dns2.")
        out_dir = REPO / "results" / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
        result = run_one(lab, "demo", out_dir, console, live=True)
        console.print(Rule("4. report"))
        render(result, console)
        console.print(f"histories and JSON result in {out_dir}")
        lab.wait_converged(timeout=60)
        passed = bool(result.get("passed"))
    finally:
        if not args.keep_lab:
            console.print(Rule("5. tear down"))
            teardown(lab_name, progress=console.print)
        else:
            console.print(f"lab {lab_name} left running: lblab status --lab {lab_name}; lblab down --lab {lab_name}")
    return 0 if passed else 1


__all__ = ["run_demo"]
