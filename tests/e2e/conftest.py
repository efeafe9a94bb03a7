"""End-to-end fixtures: one real lab per group of tests that can share it.

The reference lab is brought up once per session (lab name ``e2eref``, or ``$LBLAB_E2E_LAB``
so that several people can run end-to-end tests on one machine); a scenario that breaks something
is healed and the lab waited on until it has converged again, instead of rebuilding it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results" / "e2e"

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


@pytest.fixture(scope="session")
def reference_lab():
    from lblab.lab.instance import Lab, teardown
    from lblab.lab.ledger import Ledger

    name = os.environ.get("LBLAB_E2E_LAB", "e2eref")   # one lab per developer on a shared machine
    if Ledger(name).exists():  # left by a killed earlier session: clean it from its ledger
        teardown(name)
    lab = Lab.up("reference", name=name, progress=print)
    try:
        yield lab
    finally:
        keep = RESULTS / "lab-logs"
        if keep.exists():
            shutil.rmtree(keep)
        shutil.copytree(lab.dir / "nodes", keep, ignore=shutil.ignore_patterns("*-data", "*.ctl"),
                        dirs_exist_ok=True)
        teardown(name, progress=print)


@pytest.fixture
def healthy_lab(reference_lab):
    """The reference lab, converged before the test and healed + converged after it."""
    reference_lab.wait_converged(timeout=60)
    try:
        yield reference_lab
    finally:
        reference_lab.heal_all()
        reference_lab.wait_converged(timeout=60)
