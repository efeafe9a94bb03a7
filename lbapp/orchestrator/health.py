"""Active health-check state of one target: rise/fall over consecutive results (HAProxy's model).

A healthy target turns unhealthy after ``fall`` failed checks in a row, an unhealthy one healthy
after ``rise`` good checks in a row; any result agreeing with the current state resets the
streak, so a target failing every other check never changes state while rise and fall are >= 2.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str          # "200", "status 503", "timeout", "refused", "reset", ...
    latency: float       # seconds from connect start to verdict


@dataclass(frozen=True)
class Transition:
    healthy: bool
    reason: str          # the reason of the check that completed the streak
    streak: int


class HealthState:
    __slots__ = ("healthy", "rise", "fall", "streak")

    def __init__(self, healthy: bool, rise: int, fall: int) -> None:
        if rise < 1 or fall < 1:
            raise ValueError("rise and fall must be >= 1")
        self.healthy = healthy
        self.rise, self.fall = rise, fall
        self.streak = 0      # consecutive results disagreeing with ``healthy``

    def observe(self, result: CheckResult) -> Transition | None:
        """Feed one result; returns the transition it completes, if any."""
        if result.ok == self.healthy:
            self.streak = 0
            return None
        self.streak += 1
        needed = self.rise if result.ok else self.fall
        if self.streak < needed:
            return None
        self.healthy = result.ok
        self.streak = 0
        return Transition(healthy=result.ok, reason=result.reason, streak=needed)
