"""`lblab scenario run|list`: run a failure scenario against a lab and report on it."""
from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from scenarios.report import render
from scenarios.runner import RunOptions, run_scenario
from scenarios.spec import find_scenario, list_scenarios, load_scenario
from topo.lab import Lab, LabError, teardown
from topo.ledger import Ledger, known_labs

REPO = Path(__file__).resolve().parents[1]


def list_all(console: Console) -> int:
    for path in list_scenarios():
        scenario = load_scenario(path)
        console.print(f"[bold]{scenario.name}[/] ({scenario.topology}): {scenario.description.strip()}",
                      soft_wrap=True)
    return 0


def _lab_for(scenario, lab_name: str | None, console: Console) -> tuple[Lab, bool]:
    """The lab to run on, and whether this command brought it up."""
    if lab_name:
        return Lab.attach(lab_name), False
    for name in known_labs():
        state = Ledger(name).load().state
        if state.get("topology") == scenario.topology and state.get("phase") == "up":
            return Lab.attach(name), False
    console.print(f"no running {scenario.topology} lab: bringing one up")
    return Lab.up(scenario.topology, progress=console.print), True


def run_one(lab: Lab, name: str, out_dir: Path, console: Console, live: bool = False) -> dict:
    path = find_scenario(name)
    scenario = load_scenario(path)
    lab.wait_converged(timeout=60)
    options = RunOptions(live=console.print if live else None, log=console.print)
    return run_scenario(lab, scenario, out_dir, options=options, source=str(path))


def run(args, console: Console) -> int:
    scenario = load_scenario(find_scenario(args.name))
    out_dir = Path(args.out or REPO / "results") / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    lab, brought_up = _lab_for(scenario, args.lab, console)
    try:
        result = run_one(lab, args.name, out_dir, console, live=args.live)
        lab.wait_converged(timeout=60)
    finally:
        if brought_up and not args.keep_lab:
            teardown(lab.name, progress=console.print)
    render(result, console)
    console.print(f"histories and result: {out_dir}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        console.print(f"JSON result: {args.json}")
    return 0 if result.get("passed") else 1


__all__ = ["run", "run_one", "list_all", "LabError"]
