"""A change of an LB's config through the console's API (validate, etcd transaction guarded by
the version read, publish on Redis), with the time each running LB server took to serve it; heal
puts the old config back the same way."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lblab.faults.base import Fault, FaultError
from lblab.lab.consoleapi import ConsoleApi, ConsoleApiError
from lblab.lab.propagation import PropagationError, running_lbs, wait_applied


def served_within(poll_frequency_ms: Any) -> float:
    """How long every LB may take to serve a change: one poll period (Redis may be down) + margin."""
    poll_ms = poll_frequency_ms if isinstance(poll_frequency_ms, int) else 5000
    return poll_ms / 1000 * 1.5 + 5


class Config(Fault):
    """Change an LB's config through the console (keys of `set` replace the stored ones, null removes one); every running LB must serve it."""

    action: Literal["config"] = "config"
    lb_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")
    set: dict[str, Any] = Field(min_length=1)

    heal_last = True   # the config DB and the console must be back first

    def apply(self, lab) -> dict:
        try:
            written = ConsoleApi(lab).change_keys(self.lb_id, self.set)
        except ConsoleApiError as exc:
            raise FaultError(str(exc)) from None
        record = self.record(lab, previous=written["previous"], version=written["version"],
                             committed_at=written["committed_at"],
                             published_to=written["published_to"])
        timeout = served_within({**written["previous"], **self.set}.get("poll_frequency"))
        try:
            record["applied"] = wait_applied(lab, running_lbs(lab), written["version"],
                                             written["committed_at"], timeout)
        except PropagationError as exc:
            raise FaultError(str(exc)) from None
        return record

    def undo(self, lab, record: dict) -> None:
        written = ConsoleApi(lab).replace(self.lb_id, record["previous"])
        wait_applied(lab, running_lbs(lab), written["version"], written["committed_at"],
                     timeout=served_within(record["previous"].get("poll_frequency")))
