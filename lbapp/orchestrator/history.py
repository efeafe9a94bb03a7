"""The check history of one member: a JSONL file scenarios judge (Jepsen-style, after the run).

One line per event, wall-clock time ``t`` in seconds::

    {"t": 1718000000.123, "ev": "check", "member": "orch1", "term": 7, "target": "payment/be1",
     "ok": true, "reason": "200", "ms": 1.4}
    {"t": ..., "ev": "health", "member": "orch1", "term": 7, "target": "payment/be1",
     "healthy": false, "reason": "timeout", "written": true}
    {"t": ..., "ev": "role", "member": "orch1", "term": 7, "leader": true}
    {"t": ..., "ev": "assignment", "member": "orch1", "term": 7, "targets": 36, "leader": "orch1",
     "members": ["orch1", "orch2", "orch3"], "written": true}      (the leader wrote one)
    {"t": ..., "ev": "shard", "member": "orch2", "term": 7, "targets": 12, "leader": "orch1"}
    {"t": ..., "ev": "scale", "member": "orch1", "term": 7, "node": "lb4", "action": "activate",
     "reason": "...", "inputs": {...}}

``written`` is false when the fenced write failed (the member lost the target or its lease).
Lines are buffered and flushed every ``flush_every`` seconds (0.1); a member killed mid-line
leaves a truncated last line, which the reader skips.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("lbapp.orchestrator.history")

EVENTS = ("check", "health", "role", "assignment", "shard", "scale")


class HistoryWriter:
    def __init__(self, path: str | Path | None, member: str, flush_every: float = 0.1) -> None:
        self.member = member
        self.flush_every = flush_every
        self._file: TextIO | None = None
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        if path is not None:
            self._file = open(path, "a", buffering=1 << 16)

    def record(self, ev: str, term: int, **fields: Any) -> None:
        if self._file is None:
            return
        doc = {"t": round(time.time(), 4), "ev": ev, "member": self.member, "term": term, **fields}
        self._buffer.append(json.dumps(doc, separators=(",", ":")))
        if time.monotonic() - self._last_flush >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._file is None or not self._buffer:
            return
        try:
            self._file.write("\n".join(self._buffer) + "\n")
            self._file.flush()
        except OSError as exc:
            log.warning("cannot write the check history: %s", exc)
        self._buffer.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class Event:
    t: float
    ev: str
    member: str
    term: int
    target: str | None
    fields: dict[str, Any]


def parse_lines(lines: Iterable[str], source: str = "history") -> tuple[list[Event], list[str]]:
    """-> (events, problems). Problems name the source and line; bad lines are skipped."""
    events: list[Event] = []
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            t, ev, member, term = doc["t"], doc["ev"], doc["member"], doc["term"]
            if not isinstance(t, (int, float)) or isinstance(t, bool):
                raise ValueError("'t' must be a number")
            if ev not in EVENTS:
                raise ValueError(f"unknown event {ev!r}")
            if not isinstance(member, str) or not isinstance(term, int) or isinstance(term, bool):
                raise ValueError("'member' must be a string and 'term' an integer")
            target = doc.get("target")
            if target is not None and not isinstance(target, str):
                raise ValueError("'target' must be a string")
        except (ValueError, KeyError, RecursionError) as exc:
            problems.append(f"{source}:{number}: skipped ({exc})")
            continue
        rest = {k: v for k, v in doc.items() if k not in ("t", "ev", "member", "term", "target")}
        events.append(Event(float(t), ev, member, term, target, rest))
    return events, problems


def read_history(paths: Iterable[str | Path]) -> tuple[list[Event], list[str]]:
    """Every member's history merged, by time."""
    events: list[Event] = []
    problems: list[str] = []
    for path in paths:
        with open(path, errors="replace") as handle:
            got, bad = parse_lines(handle, str(path))
        events += got
        problems += bad
    events.sort(key=lambda e: e.t)
    return events, problems


def longest_unchecked(events: list[Event], targets: Iterable[str], start: float,
                      end: float) -> dict[str, tuple[float, float]]:
    """target -> (longest gap in seconds between consecutive checks by anyone within
    [start, end], when that gap began). Window edges count as checks, so a target never checked
    has a gap of end - start."""
    times: dict[str, list[float]] = {target: [] for target in targets}
    for event in events:
        if event.ev == "check" and event.target in times and start <= event.t <= end:
            times[event.target].append(event.t)
    out: dict[str, tuple[float, float]] = {}
    for target, stamps in times.items():
        points = [start, *sorted(stamps), end]
        gap, began = max((b - a, a) for a, b in zip(points, points[1:]))
        out[target] = (gap, began)
    return out


def term_overlaps(events: list[Event], ev: str | tuple[str, ...] = "health") -> list[tuple[Event, int]]:
    """Events of kind ``ev`` (or of any of several kinds, compared with each other) written
    under a term older than one already seen written before them: (event, newest term seen by
    then). Empty means terms never overlapped. Health events count only if ``written``."""
    kinds = (ev,) if isinstance(ev, str) else ev
    newest = 0
    late: list[tuple[Event, int]] = []
    for event in events:
        if event.ev not in kinds or (event.ev == "health" and not event.fields.get("written")):
            continue
        if event.term < newest:
            late.append((event, newest))
        newest = max(newest, event.term)
    return late
