"""Failure scenarios on the shared reference lab: each run records every request, judges the
history against the scenario's checks, and the lab is healed and re-converged afterwards."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from scenarios.report import render
from tests.e2e.conftest import RESULTS
from lblab.cli.scenario import run_one


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
             "console-change-under-load"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes_its_checks(healthy_lab, name):
    result = run_and_report(healthy_lab, name)
    assert result["error"] is None, result["error"]
    assert result["passed"], failed_checks(result)
    assert all(f["status"] == "applied" for f in result["faults"]), result["faults"]
