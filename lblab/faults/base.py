"""What a fault is: one pydantic model per action holding its parameters (validated the same way
for `lblab fault`, scenario files and the runner), ``apply``, and — for a fault that leaves
something broken — ``undo``, which `lblab heal` runs from the lab's ledger.

Every concrete fault class is registered by its ``action`` (``FAULTS``, in definition order);
the CLI's help, the scenario file schema and heal are all derived from that registry.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lblab.lab.errors import LabError

FAULTS: dict[str, type["Fault"]] = {}
STEP_FIELDS = ("at", "note")     # what a scenario adds to a fault: when, and a note


class FaultError(LabError):
    """A fault that cannot be applied as asked (bad node, daemon, peer...)."""


class FaultSkipped(FaultError):
    """The fault needs something this machine lacks (e.g. netem); str() says what. The
    scenario runner records the fault as skipped and goes on."""


class Fault(BaseModel):
    """Subclasses declare ``action: Literal["name"] = "name"``, their parameters as fields, a
    one-line docstring (the help text) and ``apply``; recorded faults also ``undo``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # heal undoes recorded faults newest first; these wait until every daemon is back
    heal_last: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("action")
        if field is None or "action" not in cls.__annotations__:
            return  # a shared base of several faults, not a fault itself
        action = field.default
        if action in FAULTS and FAULTS[action].__name__ != cls.__name__:
            raise TypeError(f"fault action {action!r} is declared twice")
        FAULTS[action] = cls

    @classmethod
    def action_name(cls) -> str:
        return cls.model_fields["action"].default

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]

    def params(self) -> dict[str, Any]:
        """The parameters as plain JSON values (what the ledger records)."""
        return self.model_dump(mode="json", exclude={"action", *STEP_FIELDS}, exclude_none=True)

    # --- what subclasses provide ----------------------------------------------------------
    def apply(self, lab) -> dict:
        raise NotImplementedError

    def undo(self, lab, record: dict) -> None:
        """Put back what ``apply`` broke (the record is what apply wrote to the ledger)."""

    def node_refs(self) -> list[tuple[str, str, str | None]]:
        """(field, node, required role or None) for every node this fault names."""
        refs = []
        for field in ("node", "peer"):
            value = getattr(self, field, None)
            if value is not None:
                refs.append((field, value, None))
        return refs

    # --- helpers for subclasses -----------------------------------------------------------
    def record(self, lab, fault_id: str | None = None, **undo_data) -> dict:
        """Write this fault to the ledger, so heal can undo it from any process."""
        record = {"id": fault_id or new_fault_id(), "action": self.action_name(), "params": self.params(),
                  "t": time.time(), **undo_data}
        lab.ledger.add_fault(record)
        return record

    def done(self, **extra) -> dict:
        """The result of a fault that leaves nothing to undo."""
        return {"id": None, "action": self.action_name(), "params": self.params(), "t": time.time(), **extra}

    @staticmethod
    def recorded(lab, actions: tuple[str, ...], **match) -> list[dict]:
        """Ledger records of these actions whose parameters include ``match``."""
        return [f for f in lab.ledger.faults() if f["action"] in actions
                and all(f["params"].get(k) == v for k, v in match.items())]

    @staticmethod
    def forget(lab, records: list[dict]) -> None:
        for record in records:
            lab.ledger.remove_fault(record["id"])


class RoleFault(Fault):
    """A fault on one node of one role (``role``): checks it and finds its daemons."""

    node: str
    role: ClassVar[str]

    def daemon_of(self, lab, name: str):
        spec = lab.topo.nodes.get(self.node)
        if spec is None or spec.role != self.role:
            raise FaultError(f"{self.node!r} is not a node of role {self.role}")
        return lab.daemon(self.node, name)

    def node_refs(self):
        return [("node", self.node, self.role)]


def new_fault_id() -> str:
    return uuid.uuid4().hex[:8]


def fault_class(action: str) -> type[Fault]:
    try:
        return FAULTS[action]
    except KeyError:
        raise FaultError(f"unknown fault {action!r} (known: {', '.join(FAULTS)})") from None
