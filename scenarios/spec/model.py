"""The scenario document: topology, traffic, timed faults (each a fault of the lab's fault
registry plus when it happens) and checks (the check registry), the physical floor, analysis
settings. Fault steps and checks are discriminated unions built from the two registries."""
from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, create_model, field_validator

from lblab.durations import Duration
from lblab.faults import FAULTS

from ..checks import CHECKS
from ..trafficspec import StrictModel, Traffic


def _step_model(fault_cls):
    """A fault as a scenario writes it: its parameters plus `at` (offset from the traffic
    start) and an optional `note`."""
    return create_model(f"{fault_cls.__name__}Step", __base__=fault_cls,
                        at=(Duration, ...), note=(str | None, None))


STEPS = {action: _step_model(cls) for action, cls in FAULTS.items()}
FaultStep = Annotated[Union[tuple(STEPS.values())], Field(discriminator="action")]
Check = Annotated[Union[tuple(CHECKS.values())], Field(discriminator="kind")]


class Floor(StrictModel):
    """What physics allows for this fault (the failure catalogue's floor), shown in the report."""

    disruption: Duration | None = None
    failed_requests: int | None = Field(None, ge=0)
    note: str | None = None


class AnalysisSettings(StrictModel):
    gap: Duration = Field(0.25, description="failures closer than this belong to one disruption")
    bucket: Duration = Field(0.1, description="time-series bucket width")

    @field_validator("gap", "bucket")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class Scenario(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    topology: str = Field(min_length=1)
    duration: Duration
    traffic: list[Traffic] = Field(min_length=1)
    faults: list[FaultStep] = Field(default_factory=list)
    checks: list[Check] = Field(min_length=1)
    floor: Floor | None = None
    analysis: AnalysisSettings = AnalysisSettings()

    def traffic_kinds(self) -> set[str]:
        return {t.kind for t in self.traffic}

    def clients(self) -> list[str]:
        seen: list[str] = []
        for t in self.traffic:
            seen += [c for c in t.clients if c not in seen]
        return seen

    def faults_in_order(self) -> list[tuple[int, Any]]:
        """(index in file, fault) sorted by time, ties in file order."""
        return sorted(enumerate(self.faults), key=lambda item: (item[1].at, item[0]))

    def max_timeout(self) -> float:
        return max(t.timeout + getattr(t, "resolve_timeout", 0.0) for t in self.traffic)
