"""Failure scenarios, each on a lab of its topology (one lab per topology per session): each run
records every request, judges the history against the scenario's checks, and the lab is healed
and re-converged afterwards."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from lblab.cli.scenario import run_one
from lblab.paths import SCENARIO_DIR
from scenarios.report import render
from scenarios.spec import load_scenario
from tests.e2e.conftest import RESULTS


def run_and_report(lab, name: str) -> dict:
    console = Console(file=io.StringIO(), width=160)
    result = run_one(lab, name, RESULTS / name, console)
    render(result, console)
    print(console.file.getvalue())  # shown by pytest when the test fails
    return result


def failed_checks(result: dict) -> list[str]:
    return [f"{c['name']} ({c.get('scope', '')}): measured {c['measured']} limit {c['limit']} - {c['detail']}"
            for c in result["checks"] if not c["passed"]]


SCENARIOS = ["backend-crash", "lb-node-down", "lb-process-crash", "lb-drain", "config-push",
             "redis-down", "etcd-down", "dns-primary-crash", "rogue-announcement",
             "console-change-under-load",
             "dns-primary-hang", "lb-node-silent", "router-lb-link-down", "bgp-wrong-password",
             # the LB-loss fault of lb-node-down in each other scaling mode, and two sites
             "ecmp-static-lb-down", "vip-mode-lb-down", "dns-mode-lb-down", "site-down"]


def topology(name: str) -> str:
    return load_scenario(SCENARIO_DIR / f"{name}.yaml").topology


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.topology(topology(n))) for n in SCENARIOS])
def test_scenario_passes_its_checks(healthy_lab_of, name):
    result = run_and_report(healthy_lab_of(topology(name)), name)
    assert result["error"] is None, result["error"]
    assert result["passed"], failed_checks(result)
    assert all(f["status"] == "applied" for f in result["faults"]), result["faults"]
