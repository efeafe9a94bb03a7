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
        self._seen: tuple | None = None    # (inode, mtime, size) of the file _state was read from
        self._index: dict[tuple[str, str], dict] | None = None   # (kind, name) -> record

    @contextmanager
    def _locked(self):
        with self._lock:
            with open(self.dir / "state.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    self._read_if_changed()
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
            self._seen = None
            self._read_if_changed()
            if self._seen is None:
                raise FileNotFoundError(self.path)
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
            self._read_if_changed()
            return self._state

    def _read_if_changed(self) -> None:
        """Re-read the file only when it changed: every write replaces it (a new inode), so its
        identity says whether what we hold is current. Readers poll this often (readiness,
        status), and a big lab's file takes milliseconds to parse."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self._state = json.loads(self.path.read_text())
            self._seen = seen
            self._index = None

    def resource(self, kind: str, name: str) -> Resource | None:
        """One recorded resource by kind and name (from an index: a big lab has hundreds)."""
        with self._lock:
            if self._index is None:
                self._index = {(r["kind"], r["name"]): r for r in self._state.get("resources", [])}
            found = self._index.get((kind, name))
            return Resource(**found) if found is not None else None

    def resources(self, kind: str | None = None) -> list[Resource]:
        with self._lock:
            items = [Resource(**r) for r in self._state.get("resources", [])]
        return [r for r in items if kind is None or r.kind == kind]

    def add(self, kind: str, name: str, **data) -> Resource:
        return self.add_many(kind, [(name, data)])[0]

    def add_many(self, kind: str, items: list[tuple[str, dict]]) -> list[Resource]:
        """Record several resources of one kind in one write (before any of them is created)."""
        resources = [Resource(kind, name, dict(data)) for name, data in items]
        with self._locked() as state:
            state.setdefault("resources", []).extend(asdict(r) for r in resources)
        return resources

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
        tmp.write_text(json.dumps(self._state, separators=(",", ":")))   # compact: C encoder, fast
        os.replace(tmp, self.path)
        st = os.stat(self.path)
        self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        self._index = None
