"""Scaling decisions for one LB tier: pure code, no I/O (the leader feeds it Prometheus' answers).

Per active LB node, the leader measures request rate, CPU (cores) and client connections. Then:

1. Fewer active than ``min_active`` (and a standby exists): activate one, whatever the load.
2. More than ``max_active``: drain one.
3. Inside the cooldown after the last change, or any active node without data: hold.
4. Average per active node above a scale-up threshold (rps or CPU): activate a standby.
5. The load spread over one node fewer would stay below *every* scale-down threshold: drain one.
   The scale-down thresholds must lie below the scale-up ones (checked by the settings), and the
   test uses the load projected onto n-1 nodes, so a drain never immediately triggers an
   activation (hysteresis).

The node to activate is the first standby by name; the node to drain is the active one with
the fewest client connections (ties: the last by name), so the fewest clients are moved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["activate", "drain", "hold"]


class ScalePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min_active: int = Field(default=1, ge=1, le=1000)
    max_active: int = Field(default=4, ge=1, le=1000)
    scale_up_rps: float = Field(default=500.0, gt=0)      # per active node
    scale_down_rps: float = Field(default=150.0, ge=0)
    scale_up_cpu: float = Field(default=0.7, gt=0)        # cores per active node
    scale_down_cpu: float = Field(default=0.25, ge=0)
    cooldown_s: float = Field(default=30.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _ordered(self) -> "ScalePolicy":
        if self.min_active > self.max_active:
            raise ValueError("min_active must not exceed max_active")
        if self.scale_down_rps >= self.scale_up_rps:
            raise ValueError("scale_down_rps must be below scale_up_rps (hysteresis)")
        if self.scale_down_cpu >= self.scale_up_cpu:
            raise ValueError("scale_down_cpu must be below scale_up_cpu (hysteresis)")
        return self


@dataclass(frozen=True)
class NodeLoad:
    rps: float
    cpu: float
    connections: float


@dataclass(frozen=True)
class Decision:
    action: Action
    node: str | None
    reason: str
    inputs: dict[str, float] = field(default_factory=dict)


def decide(policy: ScalePolicy, active: list[str], standby: list[str],
           loads: dict[str, NodeLoad], now: float, last_change: float | None) -> Decision:
    """One decision. ``active``/``standby``: nodes by their current desired state; ``loads``:
    measurements per node (active nodes missing here mean "no data"); ``last_change``: when the
    last activate/drain was decided (None: never)."""
    active, standby = sorted(active), sorted(standby)
    n = len(active)
    known = [loads[node] for node in active if node in loads]
    total_rps = sum(load.rps for load in known)
    total_cpu = sum(load.cpu for load in known)
    inputs = {"active": float(n), "standby": float(len(standby)), "total_rps": total_rps,
              "rps_per_node": total_rps / n if n else 0.0,
              "cpu_per_node": total_cpu / n if n else 0.0}

    if n < policy.min_active and standby:
        return Decision("activate", standby[0], f"{n} active < min_active {policy.min_active}",
                        inputs)
    if n > policy.max_active:
        return Decision("drain", _drain_choice(active, loads),
                        f"{n} active > max_active {policy.max_active}", inputs)
    if last_change is not None and now - last_change < policy.cooldown_s:
        left = policy.cooldown_s - (now - last_change)
        return Decision("hold", None, f"cooldown ({left:.1f} s left)", inputs)
    missing = [node for node in active if node not in loads]
    if missing:
        return Decision("hold", None, f"no metrics for {', '.join(missing)}", inputs)
    if n == 0:
        return Decision("hold", None, "no active node and no standby", inputs)

    rps, cpu = total_rps / n, total_cpu / n
    if rps > policy.scale_up_rps or cpu > policy.scale_up_cpu:
        why = (f"{rps:.0f} rps/node > {policy.scale_up_rps:g}" if rps > policy.scale_up_rps
               else f"{cpu:.2f} cpu/node > {policy.scale_up_cpu:g}")
        if n >= policy.max_active:
            return Decision("hold", None, f"{why}, but at max_active {policy.max_active}", inputs)
        if not standby:
            return Decision("hold", None, f"{why}, but no standby node", inputs)
        return Decision("activate", standby[0], why, inputs)

    if n > policy.min_active:
        rps_after, cpu_after = total_rps / (n - 1), total_cpu / (n - 1)
        inputs.update(rps_per_node_after=rps_after, cpu_per_node_after=cpu_after)
        if rps_after < policy.scale_down_rps and cpu_after < policy.scale_down_cpu:
            return Decision("drain", _drain_choice(active, loads),
                            f"on {n - 1} nodes: {rps_after:.0f} rps/node < "
                            f"{policy.scale_down_rps:g} and {cpu_after:.2f} cpu/node < "
                            f"{policy.scale_down_cpu:g}", inputs)
    return Decision("hold", None, f"{rps:.0f} rps/node, {cpu:.2f} cpu/node within bounds", inputs)


def _drain_choice(active: list[str], loads: dict[str, NodeLoad]) -> str:
    return min(sorted(active, reverse=True),
               key=lambda node: loads[node].connections if node in loads else 0.0)
