"""Live readouts of running traffic: per-second summary lines, from records as they are made
(the generator's --live) or by tailing growing history files (the runner's live view)."""
from __future__ import annotations

import collections
import json
import os
from typing import Any

Record = dict[str, Any]


class LiveReadout:
    """Counts per second; ``line()`` renders and resets: 'client1 +3s http ok 98 fail 2
    (timeout 2) | lb1 33 lb2 32 lb3 33 | dns ok 20'."""

    def __init__(self, client: str):
        self.client = client
        self.reset()

    def reset(self) -> None:
        self.ok = collections.Counter()
        self.fail: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.by_lb = collections.Counter()

    def __call__(self, rec: Record) -> None:
        kind = rec.get("type")
        if kind not in ("http", "dns"):
            return
        if rec["outcome"] == "ok":
            self.ok[kind] += 1
            if kind == "http":
                self.by_lb[rec.get("lb") or "?"] += 1
        else:
            self.fail[kind][rec["outcome"]] += 1

    def line(self, elapsed: float) -> str:
        parts = []
        for kind in ("http", "dns"):
            fails = self.fail.get(kind, collections.Counter())
            if not self.ok[kind] and not fails:
                continue
            text = f"{kind} ok {self.ok[kind]} fail {sum(fails.values())}"
            if fails:
                text += " (" + ", ".join(f"{k} {v}" for k, v in fails.most_common(3)) + ")"
            if kind == "http" and self.by_lb:
                text += " | " + " ".join(f"{lb} {n}" for lb, n in sorted(self.by_lb.items()))
            parts.append(text)
        self.reset()
        return f"{self.client} +{elapsed:.0f}s " + (" | ".join(parts) if parts else "idle")


class HistoryTail:
    """Reads the complete lines appended to a growing JSONL file since the last call."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self._pos = 0
        self._partial = b""

    def read(self) -> list[Record]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out
