"""A change of an LB's config the way the console makes it (validate, write etcd, publish on
Redis), with the time each running LB server took to serve it; heal puts the old one back."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lblab.faults.base import Fault, FaultError
from lblab.lab import configdb


def running_lbs(lab) -> list[str]:
    return [n for n in lab.node_names("lb") if lab.daemon_state(lab.daemon(n, "lbserver")) == "running"]


class Config(Fault):
    """Change an LB's config (keys of `set` replace the stored ones); every running LB must serve it."""

    action: Literal["config"] = "config"
    lb_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")
    set: dict[str, Any] = Field(min_length=1)

    heal_last = True   # the config DB must be back first

    def apply(self, lab) -> dict:
        try:
            written = configdb.change_config(lab, self.lb_id, self.set)
        except configdb.ConfigDbError as exc:
            raise FaultError(str(exc)) from None
        record = self.record(lab, **written)
        poll_ms = {**written["previous"], **self.set}.get("poll_frequency", 5000)
        try:
            record["applied"] = configdb.wait_applied(lab, running_lbs(lab), written["revision"],
                                                      written["written_at"], timeout=poll_ms / 1000 * 1.5 + 5)
        except configdb.ConfigDbError as exc:
            raise FaultError(str(exc)) from None
        return record

    def undo(self, lab, record: dict) -> None:
        revision, written_at = configdb.put_config(lab, self.lb_id, record["previous"])
        configdb.publish_changed(lab, self.lb_id)
        configdb.wait_applied(lab, running_lbs(lab), revision, written_at, timeout=30)
