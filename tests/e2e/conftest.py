"""End-to-end fixtures: one real lab per group of tests that can share it.

One lab runs at a time (two cores run one lab well): the lab of a topology is brought up the
first time a test needs it and kept until a test needs another topology, and tests are ordered
so that each topology's come together (reference first) — every lab comes up once per session.
A test that breaks something is healed and the lab waited on until it has converged again,
instead of rebuilding it. The session's labs are named after ``$LBLAB_E2E_LAB`` (default
``e2eref``) so that several people can run end-to-end tests on one machine. A test says which topology it needs with `@pytest.mark.topology(NAME)`
(without: reference).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results" / "e2e"
REFERENCE = "reference"

REQUIRED_BINARIES = ["mnexec", "bird", "birdc", "keepalived", "etcd", "etcdctl", "redis-server",
                     "prometheus", "nft"]


def pytest_collection_modifyitems(config, items):
    reasons = []
    if os.geteuid() != 0:
        reasons.append("end-to-end tests need root (network namespaces, bridges, daemons)")
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        reasons.append(f"missing binaries: {', '.join(missing)} (run `make setup`)")
    if not (REPO / "build" / "bin" / "coredns").exists():
        reasons.append("CoreDNS is not built (run `make setup`)")
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if reasons:
                item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))
    order = [REFERENCE]
    for item in items:
        if topology_of(item) not in order:
            order.append(topology_of(item))
    items.sort(key=lambda item: order.index(topology_of(item)))      # stable: file order within


def topology_of(item) -> str:
    marker = item.get_closest_marker("topology")
    return marker.args[0] if marker else REFERENCE


class Labs:
    """The session's labs, one at a time: ``get(topology)`` returns that topology's lab, tearing
    down the one before if it was another's (its logs are kept under results/e2e/lab-logs)."""

    def __init__(self, base: str):
        self.base = base
        self.current = None

    def name_for(self, topology: str) -> str:
        return self.base if topology == REFERENCE else f"{self.base[:9]}-{re.sub('[^a-z0-9]', '', topology)[:6]}"

    def get(self, topology: str):
        from lblab.lab.instance import Lab, teardown
        from lblab.lab.ledger import Ledger

        if self.current is not None and self.current.topology == topology:
            return self.current
        self.close()
        name = self.name_for(topology)
        if Ledger(name).exists():  # left by a killed earlier session: clean it from its ledger
            teardown(name)
        self.current = Lab.up(topology, name=name, progress=print)
        return self.current

    def close(self) -> None:
        from lblab.lab.instance import teardown

        lab, self.current = self.current, None
        if lab is None:
            return
        keep = RESULTS / "lab-logs" / lab.topology
        if keep.exists():
            shutil.rmtree(keep)
        shutil.copytree(lab.dir / "nodes", keep, ignore=shutil.ignore_patterns("*-data", "*.ctl"),
                        dirs_exist_ok=True)
        teardown(lab.name, progress=print)


@pytest.fixture(scope="session")
def labs():
    # one lab name per developer on a shared machine; other topologies' labs are named after it
    pool = Labs(os.environ.get("LBLAB_E2E_LAB", "e2eref"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def reference_lab(labs):
    return labs.get(REFERENCE)


@pytest.fixture
def healthy_lab(reference_lab):
    """The reference lab, converged before the test and healed + converged after it."""
    reference_lab.wait_converged(timeout=60)
    try:
        yield reference_lab
    finally:
        reference_lab.heal_all()
        reference_lab.wait_converged(timeout=60)


@pytest.fixture
def healthy_lab_of(labs):
    """``healthy_lab_of(topology)``: that topology's lab, converged; healed + converged after."""
    used = []

    def get(topology: str):
        lab = labs.get(topology)
        lab.wait_converged(timeout=60)
        used.append(lab)
        return lab

    yield get
    for lab in used:
        lab.heal_all()
        lab.wait_converged(timeout=60)
