"""The orchestrator cluster's scenarios on the shared reference lab: its leader killed, hung,
cut off from etcd, a follower killed; a backend sick, hung, flapping; a load spike that scales
the LB tier out and back. Each scenario's file holds its floor and limits; the report prints
the failover times and how long the LBs kept sending to a failed backend."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import RESULTS
from tests.e2e.test_scenarios import test_scenario_passes_its_checks as passes

SCENARIOS = ["orch-leader-crash", "orch-leader-hang", "orch-partition", "orch-worker-crash",
             "backend-sick", "backend-hang", "backend-flap", "load-spike"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_orchestrator_scenario_passes_its_checks(healthy_lab_of, name):
    passes(healthy_lab_of, name)
    members = sorted(p.name for p in Path(RESULTS / name).glob("orchestrator-*.jsonl"))
    assert members == [f"orchestrator-orch{i}.jsonl" for i in (1, 2, 3)], members
