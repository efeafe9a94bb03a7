"""`lblab chaos`: a chaos soak (nemesis + histories + checker) under steady traffic and config
writes. A running lab named by --lab is used and left running (healed); otherwise a lab of that
name is brought up, torn down at the end, and checked to have left nothing behind."""
from __future__ import annotations

import random
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from lblab.cli.common import console, require_root
from lblab.durations import DurationError, parse_duration
from lblab.lab.errors import LabError
from lblab.paths import RESULTS_DIR

OWN_LAB = "chaos"


def fault_actions(text: str | None) -> list[str] | None:
    """--faults a,b,... as a list of known fault actions; a clear error naming a bad one."""
    from lblab.faults import FAULTS

    if text is None:
        return None
    actions = [a.strip() for a in text.split(",") if a.strip()]
    if not actions:
        raise LabError("--faults: give at least one fault action (e.g. kill,node_down)")
    unknown = [a for a in actions if a not in FAULTS]
    if unknown:
        raise LabError(f"--faults: unknown fault {', '.join(map(repr, unknown))} (known: {', '.join(FAULTS)})")
    return actions


def duration(text: str, option: str) -> float:
    try:
        value = parse_duration(text)
    except DurationError as exc:
        raise LabError(f"{option}: {exc}") from None
    if value <= 0:
        raise LabError(f"{option}: must be longer than 0")
    return value


def print_summary(result: dict, out: Console) -> None:
    from scenarios.report import render

    render(result, out)
    chaos = result.get("chaos") or {}
    faults = ", ".join(f"{a} {n}" for a, n in sorted((chaos.get("faults_by_action") or {}).items()))
    http, dns = (chaos.get("requests") or {}).get("http") or {}, (chaos.get("requests") or {}).get("dns") or {}
    out.print(f"[bold]chaos[/]: seed {chaos.get('seed')}: {chaos.get('faults')} faults ({escape(faults)}); "
              f"{chaos.get('acknowledged')} of {chaos.get('config_writes')} config writes acknowledged; "
              f"HTTP {http.get('ok')} ok / {http.get('failed')} failed, DNS {dns.get('ok')} ok / {dns.get('failed')} "
              f"failed; violations: {chaos.get('violations')}")


def print_violations(out_dir: Path, out: Console) -> None:
    import json

    data = json.loads((out_dir / "chaos.json").read_text())
    repeat = data["summary"]["repeat"]
    for v in data["violations"]:
        out.print(f"[bold red]violation[/] ({v['check']}, +{v['from']:.2f}s..+{v['to']:.2f}s): {escape(v['message'])}",
                  soft_wrap=True)
        out.print(f"  reproduce: {escape(repeat)}", soft_wrap=True)
        for line in v["history"]:
            out.print("    " + escape(line), soft_wrap=True)


def run(args) -> int:
    from lblab.cli.scenario import print_report_path
    from lblab.cli.up import bring_up
    from lblab.lab.instance import Lab
    from lblab.lab.ledger import Ledger, check_lab_name
    from lblab.lab.teardown import leftovers, teardown
    from scenarios.chaos import ChaosOptions, conclude, run_chaos
    from scenarios.chaos.plan import Timing
    from scenarios.trafficspec import MAX_RATE

    options = ChaosOptions(duration=duration(args.duration, "--duration"),
                           seed=args.seed if args.seed is not None else random.randrange(1, 10**6),
                           actions=fault_actions(args.faults),
                           timing=Timing(concurrency=args.concurrency), http_rate=args.rate)
    problems = options.timing.problems()
    if problems:
        raise LabError("; ".join(f"--{name}: {why}" for name, why in problems))
    check_lab_name(args.lab)
    if args.rate <= 0 or args.rate > MAX_RATE:
        raise LabError(f"--rate: {args.rate:g} requests/s is outside (0, {MAX_RATE:g}]")
    require_root()
    out_dir = Path(args.out or RESULTS_DIR) / f"chaos-{options.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    own = not Ledger(args.lab).exists()
    lab = bring_up(args.topo, args.lab, 60.0, console) if own else Lab.attach(args.lab)
    console.print(f"chaos: seed {options.seed}, {args.duration} on lab {lab.name}; results in {out_dir}", markup=False)
    try:
        result = run_chaos(lab, options, out_dir, log=console.print, live=console.print if args.live else None)
    finally:
        if own and not args.keep_lab:
            teardown(lab.name, progress=console.print)
    if own and not args.keep_lab:
        result = conclude(None, out_dir.resolve(), result, leftovers=leftovers(lab.name), leftovers_checked=True)
    print_summary(result, console)
    print_violations(out_dir, console)
    console.print(f"histories and result: {out_dir}", markup=False)
    if args.open:
        print_report_path(result, console)
    return 0 if result.get("passed") else 1


def add_parser(sub) -> None:
    p = sub.add_parser("chaos", help="chaos soak: random faults, traffic and config writes, then a history checker")
    p.add_argument("--duration", default="2m", help="how long the traffic runs (e.g. 90s, 10m; default 2m)")
    p.add_argument("--seed", type=int, help="seed of the fault and write schedule (default: random, printed)")
    p.add_argument("--faults", metavar="A,B,...", help="only these fault actions (default: every hazard of the lab)")
    p.add_argument("--lab", default=OWN_LAB, help=f"a running lab of this name is used (and kept); else one is "
                                                 f"brought up under it and removed at the end (default {OWN_LAB})")
    p.add_argument("--topo", default="reference", help="topology of a lab brought up (default: reference)")
    p.add_argument("--keep-lab", action="store_true", help="leave the lab this command brought up running")
    p.add_argument("--concurrency", type=int, default=2, help="faults at once, at most (default 2)")
    p.add_argument("--rate", type=float, default=40.0, help="HTTP requests/s per client (default 40)")
    p.add_argument("--out", metavar="DIR", help="directory for results (default results/)")
    p.add_argument("--live", action="store_true", help="print a live per-second readout")
    p.add_argument("--open", action="store_true", help="print the path of the run's report.html")
    p.set_defaults(func=run)
