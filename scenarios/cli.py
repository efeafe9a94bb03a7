"""``python -m scenarios validate [FILE|NAME ...]``, ``python -m scenarios report RESULT.json|DIR`` (a
result directory: also (re)writes its report.html and figures), ``python -m scenarios reference``
(every fault and check, from the registries);
``python -m scenarios analyze SCENARIO HISTORY.jsonl ...`` judges recorded histories offline
(route checks have no polls then and fail)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from rich.console import Console

from .spec import ScenarioError, find_scenario, list_scenarios, load_scenario


def _validate(args: argparse.Namespace) -> int:
    paths = [find_scenario(n) for n in args.scenarios] or list_scenarios()
    bad = 0
    for p in paths:
        try:
            s = load_scenario(p)
            print(f"{p}: ok ({s.name}: {len(s.traffic)} traffic, {len(s.faults)} faults, {len(s.checks)} checks)")
        except ScenarioError as exc:
            print(exc, file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def report(path: str, console: Console) -> int:
    """Print the summary of a result; for a result directory first (re)write its report.html and
    figures. 0 when the run passed, 1 when it did not, 2 when the result cannot be read."""
    from .report import render
    if os.path.isdir(path):
        from .htmlreport import ResultDirError, write_report
        try:
            html = write_report(path)
        except ResultDirError as exc:
            print(exc, file=sys.stderr)
            return 2
        result = json.loads((html.parent / "result.json").read_text(encoding="utf-8"))
        render(result, console)
        console.print(f"report: {html}", markup=False, soft_wrap=True)
        return 0 if result.get("passed") else 1
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    render(result, console)
    return 0 if result.get("passed") else 1


def _report(args: argparse.Namespace) -> int:
    return report(args.result, Console())


def _analyze(args: argparse.Namespace) -> int:
    from . import analysis
    from .checks import Context, judge_all
    from .history import load_history
    from .report import build_result, render
    try:
        scenario = load_scenario(find_scenario(args.scenario))
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    history = load_history(args.histories)
    t0 = args.t0 if args.t0 is not None else history.start()
    if t0 is None:
        print("no operations in the histories", file=sys.stderr)
        return 2
    gap, bucket = scenario.analysis.gap, scenario.analysis.bucket
    numbers = analysis.analyze(history, t0, scenario.duration, gap=gap, bucket=bucket)
    ctx = Context(history=history, t0=t0, duration=scenario.duration, gap=gap)
    result = build_result(scenario, lab=None, t0=t0, analysis=numbers, checks=judge_all(scenario, ctx))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        render(result, Console())
    return 0 if result["passed"] else 1


def _reference(args: argparse.Namespace) -> int:
    from .reference import markdown

    print(markdown())
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scenarios")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="validate scenario files (default: all in scenarios/)")
    v.add_argument("scenarios", nargs="*")
    r = sub.add_parser("report", help="render a result.json; for a result directory also write report.html")
    r.add_argument("result")
    a = sub.add_parser("analyze", help="judge recorded histories against a scenario's checks")
    a.add_argument("scenario")
    a.add_argument("histories", nargs="+")
    a.add_argument("--t0", type=float, help="traffic start (epoch); default: from the histories")
    a.add_argument("--json", action="store_true")
    sub.add_parser("reference", help="every fault action and check with its parameters (markdown)")
    args = ap.parse_args(argv)
    return {"validate": _validate, "report": _report, "analyze": _analyze, "reference": _reference}[args.cmd](args)
