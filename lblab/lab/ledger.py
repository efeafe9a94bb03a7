"""The record of everything a lab creates, so teardown removes exactly that.

Each resource is written to the lab's state file *before* it is created (an intent record), and
the file is replaced atomically on every change, so a runner killed at any point leaves a record
that still covers everything it made. Teardown reads the record and removes what exists of it.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lblab.lab.errors import LabError
from lblab.paths import RUN_ROOT
from lblab.topology.model import TOPOLOGY_NAME

LAB_NAME = re.compile(TOPOLOGY_NAME)


class LabNameError(LabError):
    pass


def check_lab_name(lab: str) -> str:
    """A lab name becomes a directory, namespace and interface names: same rule as topology
    names (checked before anything touches the filesystem)."""
    if not isinstance(lab, str) or not LAB_NAME.fullmatch(lab):
        raise LabNameError(f"invalid lab name {lab!r}: 1-16 characters, lowercase letters, digits and '-', "
                           "starting with a letter")
    return lab


def lab_dir(lab: str) -> Path:
    return RUN_ROOT / check_lab_name(lab)


def known_labs() -> list[str]:
    if not RUN_ROOT.is_dir():
        return []
    return sorted(p.parent.name for p in RUN_ROOT.glob("*/state.json")
                  if LAB_NAME.fullmatch(p.parent.name) and not p.parent.is_symlink())


@dataclass
class Resource:
    kind: str          # netns | bridge | veth | netns_etc | process
    name: str          # namespace / interface name, path, or node/daemon for processes
    data: dict = field(default_factory=dict)


class Ledger:
    """Crash-safe list of a lab's resources in <run>/<lab>/state.json.

    Several processes use one lab at once (the runner, `lblab status`, a scenario applying
    faults), so every change re-reads the file under an exclusive flock before writing it.
    """

    def __init__(self, lab: str):
        self.lab = lab
        self.dir = lab_dir(lab)
        self.path = self.dir / "state.json"
        self._lock = threading.RLock()
        self._state: dict = {}

    @contextmanager
    def _locked(self):
        with self._lock:
            with open(self.dir / "state.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    if self.path.is_file():
                        self._state = json.loads(self.path.read_text())
                    yield self._state
                    self._write()
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # -- lifecycle -------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def create(self, topology_path: str, topology_name: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._state = {
                "lab": self.lab,
                "topology": topology_name,
                "topology_path": topology_path,
                "created": time.time(),
                "phase": "building",
                "runner_pid": os.getpid(),
                "resources": [],
                "faults": [],
            }
            self._write()

    def load(self) -> "Ledger":
        with self._lock:
            self._state = json.loads(self.path.read_text())
        return self

    def remove_file(self) -> None:
        self.path.unlink(missing_ok=True)
        (self.dir / "state.lock").unlink(missing_ok=True)

    # -- access ----------------------------------------------------------------------------
    @property
    def state(self) -> dict:
        return self._state

    def set(self, **values) -> None:
        with self._locked() as state:
            state.update(values)

    def refresh(self) -> dict:
        with self._lock:
            if self.path.is_file():
                self._state = json.loads(self.path.read_text())
            return self._state

    def resources(self, kind: str | None = None) -> list[Resource]:
        with self._lock:
            items = [Resource(**r) for r in self._state.get("resources", [])]
        return [r for r in items if kind is None or r.kind == kind]

    def add(self, kind: str, name: str, **data) -> Resource:
        resource = Resource(kind, name, data)
        with self._locked() as state:
            state.setdefault("resources", []).append(asdict(resource))
        return resource

    def update(self, kind: str, name: str, **data) -> None:
        with self._locked() as state:
            for item in state.get("resources", []):
                if item["kind"] == kind and item["name"] == name:
                    item["data"].update(data)

    def discard(self, kind: str, name: str) -> None:
        with self._locked() as state:
            state["resources"] = [
                r for r in state.get("resources", []) if not (r["kind"] == kind and r["name"] == name)]

    # faults still in effect, so heal and down can undo them
    def add_fault(self, record: dict) -> None:
        with self._locked() as state:
            state.setdefault("faults", []).append(record)

    def remove_fault(self, fault_id: str) -> None:
        with self._locked() as state:
            state["faults"] = [f for f in state.get("faults", []) if f.get("id") != fault_id]

    def faults(self) -> list[dict]:
        return list(self.refresh().get("faults", []))

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=1))
        os.replace(tmp, self.path)
