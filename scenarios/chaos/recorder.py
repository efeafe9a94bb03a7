"""What the chaos soak does and records besides the traffic, each in a thread of its own, each to
a JSONL history in the result directory (times are epochs; the checker makes them relative):

- ``ConfigWriter``: the planned config writes, through the lab's one config-write function
  (``Lab.write_config``, the console's path); every attempt with its outcome: acknowledged
  (etcd revision, commit time) or failed (the write may still have been applied).
- ``StatusPoller``: every LB server's /-/status, one thread per LB (a hung one delays no other):
  which config version and algorithm it serves, under which pid, or why it did not answer.
- ``HostPressure``: the host's CPU pressure (PSI: the share of time some runnable task waited
  for a CPU, over 10 s) every second, so a reader can tell a starved machine from a fault.
- ``Nemesis``: applies each planned fault at its time and heals it after its hold; each fault's
  times, its ledger record and what went wrong.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .plan import PlannedWrite, Step

WRITES_FILE = "config-writes.jsonl"
STATUS_FILE = "lb-status.jsonl"
HOST_FILE = "host-cpu.jsonl"
PRESSURE = Path("/proc/pressure/cpu")


class JsonLines:
    """Append-only JSONL, flushed per record (a run killed mid-way keeps what it recorded)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL history; a torn last line (a killed run) is skipped."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class _Worker(threading.Thread):
    def __init__(self, name: str):
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()

    def wait_until(self, epoch: float) -> bool:
        """Sleep until then; False when asked to stop first."""
        return not self.stopping.wait(max(0.0, epoch - time.time()))

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.join(timeout)


class ConfigWriter(_Worker):
    def __init__(self, write: Callable[[dict], dict], plan: Sequence[PlannedWrite], t0: float, out: JsonLines):
        super().__init__("chaos-config-writer")
        self.write, self.plan, self.t0, self.out = write, plan, t0, out

    def run(self) -> None:
        for planned in self.plan:
            if not self.wait_until(self.t0 + planned.at):
                return
            record: dict[str, Any] = {"seq": planned.seq, "at": planned.at, "changes": planned.changes,
                                      "sent": time.time()}
            try:
                written = self.write(planned.changes)
                record.update(acked=time.time(), revision=written["revision"],
                              committed_at=written.get("committed_at"))
            except Exception as exc:  # noqa: BLE001 - a failed write is history, not a crash
                record.update(error=_error(exc))
            self.out.write(record)


class StatusPoller(_Worker):
    def __init__(self, status: Callable[[str], dict], lb: str, interval: float, out: JsonLines):
        super().__init__(f"chaos-status-{lb}")
        self.status, self.lb, self.interval, self.out = status, lb, interval, out

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.time()
            record: dict[str, Any] = {"t": started, "lb": self.lb}
            try:
                doc = self.status(self.lb)
                config = doc.get("config") or {}
                record.update(pid=doc.get("pid"), version=config.get("version"), algorithm=config.get("algorithm"),
                              applied_at=config.get("applied_at"), ready=doc.get("ready"))
            except Exception as exc:  # noqa: BLE001 - an LB that does not answer is data
                record.update(error=_error(exc))
            self.out.write(record)
            self.stopping.wait(max(0.0, self.interval - (time.time() - started)))


def cpu_pressure(text: str) -> float | None:
    """'some avg10=91.47 avg60=...' -> 91.47 (percent), None if the line is not there."""
    for line in text.splitlines():
        if line.startswith("some "):
            fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
            try:
                return float(fields["avg10"])
            except (KeyError, ValueError):
                return None
    return None


class HostPressure(_Worker):
    def __init__(self, out: JsonLines, interval: float = 1.0, source: Path = PRESSURE):
        super().__init__("chaos-host-pressure")
        self.out, self.interval, self.source = out, interval, source

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.out.write({"t": time.time(), "cpu_some_avg10": cpu_pressure(self.source.read_text())})
            except OSError:     # a kernel without PSI: nothing to record
                return
            self.stopping.wait(self.interval)


class Nemesis:
    """Runs the planned faults on the caller's thread (``run``), keeping every fault's entry in
    ``entries`` (the runner's fault entries: the result and the report show them)."""

    def __init__(self, lab, plan: Sequence[Step], t0: float, sleep_until: Callable[[float], None],
                 log: Callable[[str], None]):
        self.lab, self.plan, self.t0 = lab, plan, t0
        self.sleep_until, self.log = sleep_until, log
        self.entries: list[dict[str, Any]] = []
        self.records: dict[int, Any] = {}

    def _entry(self, step: Step) -> dict[str, Any]:
        hazard = step.candidate.hazard
        return {"index": step.index, "at": step.start, "hold": step.hold, "action": hazard.action,
                "params": dict(hazard.params), "role": step.candidate.role, "node": step.candidate.node,
                "nodes": list(step.candidate.nodes), "disruption": dict(hazard.disruption),
                "floor_note": hazard.floor, "while_held": hazard.while_held, "status": "pending"}

    def events(self) -> list[tuple[float, int, str, Step]]:
        """(time, order, apply|heal, step) in the order they happen (a heal before an apply due
        at the same time, so the plan's limits hold)."""
        out = []
        for step in self.plan:
            out.append((step.start, 1, "apply", step))
            out.append((step.end, 0, "heal", step))
        return sorted(out, key=lambda e: (e[0], e[1], e[3].index))

    def run(self) -> None:
        entries = {}
        for when, _, what, step in self.events():
            self.sleep_until(self.t0 + when)
            if what == "apply":
                entries[step.index] = entry = self._entry(step)
                self.entries.append(entry)
                self._apply(step, entry)
            else:
                self._heal(step, entries[step.index])

    def heal_all_left(self) -> None:
        """Heal what an interrupted run left applied (the runner's heal_all also runs after)."""
        for entry in self.entries:
            if entry["status"] == "applied":
                self._heal_entry(entry)

    # apply|heal -> (when it started, how long it took, the status once done)
    PHASES = {"apply": ("applied_at", "took", "applied"), "heal": ("healed_at", "heal_took", "healed")}

    def _apply(self, step: Step, entry: dict[str, Any]) -> None:
        def apply() -> None:
            self.records[step.index] = self.lab.fault(entry["action"], **entry["params"])
        self._phase(entry, "apply", apply, f", held {step.hold:.1f}s")

    def _heal(self, step: Step, entry: dict[str, Any]) -> None:
        if entry["status"] == "applied":
            self._heal_entry(entry)

    def _heal_entry(self, entry: dict[str, Any]) -> None:
        def heal() -> None:
            entry["heal"] = self.lab.heal_fault(self.records[entry["index"]])
        self._phase(entry, "heal", heal)

    def _phase(self, entry: dict[str, Any], phase: str, do: Callable[[], None], note: str = "") -> None:
        """Run one phase of a fault, recording when it started, how long it took, how it ended."""
        at, took, done = self.PHASES[phase]
        started = time.time()
        entry[at] = round(started - self.t0, 4)
        what = f"fault {entry['index']} {entry['action']} {entry['params']}"
        try:
            do()
            entry["status"] = done
            self.log(f"chaos: {what} {done}{note}")
        except Exception as exc:  # noqa: BLE001 - recorded; the checker reports it
            entry.update(status=f"{phase}_failed", detail=_error(exc))
            self.log(f"chaos: {phase} of {what} failed: {entry['detail']}")
        entry[took] = round(time.time() - started, 4)
