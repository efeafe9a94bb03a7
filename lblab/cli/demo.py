"""`lblab demo` (what `make demo` runs): bring up the reference lab with progress, show its
status and the console's URL (its live view charts the same run), run the `demo` scenario with a
live per-second readout of what clients see while an LB process, an LB node and the primary DNS
server fail and come back, print the report, tear down."""
from __future__ import annotations

import time

from rich.console import Console
from rich.rule import Rule

from lblab import status
from lblab.cli.common import console as default_console, require_root
from lblab.cli.scenario import run_one
from lblab.kinds.console import console_status
from lblab.lab.instance import Lab
from lblab.lab.ledger import Ledger
from lblab.lab.teardown import teardown
from lblab.paths import RESULTS_DIR
from scenarios.report import render


def run(args) -> int:
    require_root()
    return run_demo(args, default_console)


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="bring up the reference lab, send traffic, inject failures live, tear down")
    p.add_argument("--topo", default="reference")
    p.add_argument("--keep-lab", action="store_true")
    p.set_defaults(func=run)


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
        for node, entry in console_status(lab).items():
            console.print(f"Watch it live in a browser on this machine: {entry['url']}/live "
                          f"(the console on node {node}: requests/s per LB server and backend, "
                          "announcements, DNS VIP holder); log in with the token above to change "
                          "configs.", markup=False)
        console.print(Rule("3. traffic by name through DNS + anycast, with failures injected live"))
        console.print("Each line is one second of client traffic: requests ok/failed, and which LB and "
                      "backend served them. Watch lb2, then lb3 disappear and come back, and DNS move "
                      "from dns1 to dns2.")
        out_dir = RESULTS_DIR / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
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

