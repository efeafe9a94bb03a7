"""Waiting until a lab has converged: every present node kind's checks pass (BGP sessions, ECMP
nexthops, the DNS VIP on one node, etcd healthy, Prometheus scraping, ...), and the scaling
mode's (LB VIPs held, a static route in place)."""
from __future__ import annotations

import time

from lblab.kinds.base import Check
from lblab.lab.errors import LabError
from lblab.lab.progress import CHECKS, Counts


def checks(lab) -> list[Check]:
    return [check for kind in lab.kinds() for check in kind.converge_checks(lab)] + lab.mode.converge_checks(lab)


def wait_converged(lab, timeout: float = 60.0, progress=lambda _m: None, counts: Counts | None = None) -> float:
    counts = counts or Counts()
    start = time.monotonic()
    reported: set[str] = set()
    last: list[Check] = []
    while time.monotonic() - start < timeout:
        last = checks(lab)
        counts.expect(CHECKS, len(last))
        counts.set(CHECKS, sum(c.ok for c in last))
        for check in last:
            if check.ok and check.name not in reported:
                reported.add(check.name)
                progress(f"converged: {check.name} ({check.detail})")
        if all(c.ok for c in last):
            elapsed = time.monotonic() - start
            for kind in lab.kinds():
                kind.converged(lab)
            return elapsed
        time.sleep(0.1)
    failing = "\n".join(f"  {c.name}: {c.detail}" + (f"\n    logs: {', '.join(c.logs)}" if c.logs else "")
                        for c in last if not c.ok)
    raise LabError(f"lab {lab.name} did not converge within {timeout:.0f}s:\n{failing}")
