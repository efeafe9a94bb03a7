"""The convergence loop (lblab.lab.converge): every check must pass in one round, and only then
each kind's ``converged`` hook runs, once."""
from __future__ import annotations

import pytest

from lblab.kinds.base import Check, NodeKind
from lblab.lab import converge
from lblab.lab.errors import LabError


class Kind(NodeKind):
    role = "throwaway"

    def __init__(self, results: list[bool]) -> None:
        self.results = results
        self.settled = 0

    def converge_checks(self, lab) -> list[Check]:
        ok = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        return [Check("thing", ok, "ok" if ok else "not yet")]

    def converged(self, lab) -> None:
        self.settled += 1


class Mode:
    def converge_checks(self, lab) -> list[Check]:
        return []


class FakeLab:
    name = "t"
    mode = Mode()

    def __init__(self, *kinds: Kind) -> None:
        self._kinds = kinds

    def kinds(self):
        return self._kinds


def test_the_converged_hook_runs_once_after_every_check_passes():
    slow, ready = Kind([False, False, True]), Kind([True])
    converge.wait_converged(FakeLab(slow, ready), timeout=5)
    assert slow.results == [True] and (slow.settled, ready.settled) == (1, 1)


def test_the_hook_does_not_run_when_the_lab_never_converges():
    never = Kind([False])
    with pytest.raises(LabError, match="(?s)did not converge.*thing: not yet"):
        converge.wait_converged(FakeLab(never), timeout=0.3)
    assert never.settled == 0
