"""A change of an LB's config through the console's API (validate, etcd transaction guarded by
the version read, publish on Redis), with the time each running LB server took to serve it; heal
puts the old config back the same way."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lblab.faults.base import Fault, FaultError
from lblab.lab.consoleapi import ConsoleApi, ConsoleApiError
from lblab.lab.propagation import PropagationError, running_lbs, wait_applied

# the fields that are one edit each (lblab.lab.consoleapi.edit_request): exactly one is given
EDIT_FIELDS = ("set", "algorithm", "weights", "add_backend", "remove_backend")


def served_within(poll_frequency_ms: Any) -> float:
    """How long every LB may take to serve a change: one poll period (Redis may be down) + margin."""
    poll_ms = poll_frequency_ms if isinstance(poll_frequency_ms, int) else 5000
    return poll_ms / 1000 * 1.5 + 5


class Config(Fault):
    """Change an LB's config through the console: one of set (keys replace the stored ones, null removes one), algorithm, weights, add_backend, remove_backend; every running LB must serve it."""

    action: Literal["config"] = "config"
    lb_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")
    set: dict[str, Any] | None = Field(None, min_length=1)
    algorithm: str | None = Field(None, min_length=1, max_length=64)
    weights: dict[str, Any] | None = Field(None, min_length=1)
    add_backend: dict[str, Any] | None = Field(None, min_length=1)
    remove_backend: str | None = Field(None, min_length=1, max_length=253)

    heal_last = True   # the config DB and the console must be back first

    @model_validator(mode="after")
    def _one_edit(self) -> "Config":
        given = [name for name in EDIT_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(EDIT_FIELDS)} (got "
                             f"{', '.join(given) or 'none'})")
        return self

    def apply(self, lab) -> dict:
        kind = next(name for name in EDIT_FIELDS if getattr(self, name) is not None)
        try:
            written = ConsoleApi(lab).edit(self.lb_id, kind, getattr(self, kind))
        except ConsoleApiError as exc:
            raise FaultError(str(exc)) from None
        record = self.record(lab, previous=written["previous"], version=written["version"],
                             committed_at=written["committed_at"],
                             published_to=written["published_to"])
        poll_ms = {**written["previous"], **(self.set or {})}.get("poll_frequency")
        try:
            record["applied"] = wait_applied(lab, running_lbs(lab), written["version"],
                                             written["committed_at"], served_within(poll_ms))
        except PropagationError as exc:
            raise FaultError(str(exc)) from None
        return record

    def undo(self, lab, record: dict) -> None:
        written = ConsoleApi(lab).edit(self.lb_id, "replace", record["previous"])
        wait_applied(lab, running_lbs(lab), written["version"], written["committed_at"],
                     timeout=served_within(record["previous"].get("poll_frequency")))
