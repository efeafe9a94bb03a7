"""`lblab scenario run|list`: run a failure scenario against a lab and report on it."""
from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from lblab.cli.common import console, require_root
from lblab.paths import RESULTS_DIR


def list_all(out: Console) -> int:
    from scenarios.spec import list_scenarios, load_scenario

    for path in list_scenarios():
        scenario = load_scenario(path)
        out.print(f"[bold]{scenario.name}[/] ({scenario.topology}): {scenario.description.strip()}",
                  soft_wrap=True)
    return 0


def lab_for(scenario, lab_name: str | None, out: Console):
    """(the lab to run on, whether this command brought it up): the named lab, else the one
    running lab of the scenario's topology, else a new one; several candidates is an error."""
    from lblab.lab.instance import Lab

    if lab_name:
        return Lab.attach(lab_name), False
    if Lab.running(scenario.topology):
        return Lab.attach(Lab.default_name(scenario.topology)), False
    out.print(f"no running {scenario.topology} lab: bringing one up")
    return Lab.up(scenario.topology, progress=out.print), True


def run_one(lab, name: str, out_dir: Path, out: Console, live: bool = False) -> dict:
    from scenarios.runner import RunOptions, run_scenario
    from scenarios.spec import find_scenario, load_scenario

    path = find_scenario(name)
    scenario = load_scenario(path)
    lab.wait_converged(timeout=60)
    options = RunOptions(live=out.print if live else None, log=out.print)
    return run_scenario(lab, scenario, out_dir, options=options, source=str(path))


def run(args) -> int:
    from lblab.lab.teardown import teardown
    from scenarios.report import render
    from scenarios.spec import find_scenario, load_scenario

    scenario = load_scenario(find_scenario(args.name))   # a bad file is refused before any lab work
    require_root()
    out_dir = Path(args.out or RESULTS_DIR) / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    lab, brought_up = lab_for(scenario, args.lab, console)
    try:
        result = run_one(lab, args.name, out_dir, console, live=args.live)
        lab.wait_converged(timeout=60)
    finally:
        if brought_up and not args.keep_lab:
            teardown(lab.name, progress=console.print)
    render(result, console)
    console.print(f"histories and result: {out_dir}", markup=False)
    if args.open:
        print_report_path(result, console)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        console.print(f"JSON result: {args.json}", markup=False)
    return 0 if result.get("passed") else 1


def print_report_path(result: dict, out: Console) -> None:
    """Where the run's report.html is (as a file:// URL a browser opens), or why there is none."""
    files = result.get("files") or {}
    if files.get("report"):
        out.print(f"report: {Path(files['report']).resolve().as_uri()}", markup=False, soft_wrap=True)
    else:
        out.print(f"no report: {files.get('report_error') or 'the run wrote none'}", style="red",
                  markup=False, soft_wrap=True)


def dispatch(args) -> int:
    if args.scenario_command == "list":
        return list_all(console)
    return run(args)


def add_parser(sub) -> None:
    p = sub.add_parser("scenario", help="failure scenarios")
    ssub = p.add_subparsers(dest="scenario_command", required=True)
    sp = ssub.add_parser("run", help="run a scenario against a lab (brought up if none of its topology runs)")
    sp.add_argument("name", help="scenario name in scenarios/ or a YAML path")
    sp.add_argument("--lab", help="lab to run on (default: the one running lab of the scenario's topology)")
    sp.add_argument("--json", metavar="FILE", help="write the JSON result here")
    sp.add_argument("--out", metavar="DIR", help="directory for histories and results (default results/)")
    sp.add_argument("--keep-lab", action="store_true", help="leave a lab this command brought up running")
    sp.add_argument("--live", action="store_true", help="print a live per-second readout")
    sp.add_argument("--open", action="store_true", help="print the path of the run's report.html to open")
    ssub.add_parser("list", help="list scenarios")
    p.set_defaults(func=dispatch)
