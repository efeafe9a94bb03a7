"""Histories: one JSON object per line, written by each traffic generator, read by the analysis.

Record types (the ``type`` key):

``meta``  once, as soon as the generator is ready: client, pid, ready (epoch), start (epoch of
          the first scheduled operation, or null while it waits for --start-file), duration,
          streams (the spec's streams).
``start`` start (epoch), when it arrived after the meta record (--start-file).
``http``  one HTTP request: client, stream, seq, t_send (epoch when the request started, DNS
          lookup included), latency (s, to the complete response or the failure), outcome
          ("ok", "http_<code>", "timeout", "refused", "reset", "dns_fail", "error:<kind>"),
          status, lb (X-LB), backend (X-Backend), ip (resolved), sport, lag (s behind
          schedule), err (detail of a failure).
``dns``   one DNS query: client, stream, seq, t_send, latency, outcome ("ok", "nodata",
          "nxdomain", "servfail", "refused", "rcode_<name>", "timeout", "error:<kind>"),
          answers (IPs), ttl, server.
``end``   once at exit: t, reason, and per stream scheduled / sent / missed counts.

The writer buffers and flushes every ``flush_interval`` so a killed generator leaves a usable
file; the loader tolerates a torn last line.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

OK = "ok"


def is_ok(rec: dict) -> bool:
    return rec.get("outcome") == OK


class HistoryWriter:
    """Append records as JSON lines; ``flush()`` writes the buffer out (call it periodically)."""

    def __init__(self, path: str | os.PathLike | None = None, stream: IO[str] | None = None):
        if (path is None) == (stream is None):
            raise ValueError("give a path or a stream")
        self._own = stream is None
        self._f: IO[str] = open(path, "a", encoding="utf-8") if stream is None else stream  # noqa: SIM115
        self._buf: list[str] = []
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def write(self, rec: dict[str, Any]) -> None:
        self._buf.append(self._dumps(rec) + "\n")

    def flush(self) -> None:
        if self._buf:
            self._f.write("".join(self._buf))
            self._buf.clear()
        self._f.flush()

    def close(self) -> None:
        self.flush()
        if self._own:
            self._f.close()


@dataclass
class History:
    """All records of a run, from one or many files, each list sorted by t_send."""

    http: list[dict] = field(default_factory=list)
    dns: list[dict] = field(default_factory=list)
    meta: list[dict] = field(default_factory=list)
    end: list[dict] = field(default_factory=list)
    bad_lines: int = 0
    sources: list[str] = field(default_factory=list)

    def ops(self, kind: str) -> list[dict]:
        return self.http if kind == "http" else self.dns

    def clients(self) -> list[str]:
        names = {r["client"] for r in self.meta if "client" in r}
        names |= {r.get("client") for r in self.http} | {r.get("client") for r in self.dns}
        return sorted(n for n in names if n)

    def start(self) -> float | None:
        """Earliest scheduled start over all generators (epoch)."""
        starts = [r["start"] for r in self.meta if isinstance(r.get("start"), (int, float))]
        if starts:
            return min(starts)
        firsts = [ops[0]["t_send"] for ops in (self.http, self.dns) if ops]
        return min(firsts) if firsts else None


def parse_lines(lines: Iterable[str], history: History | None = None) -> History:
    h = history if history is not None else History()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            h.bad_lines += 1       # e.g. the torn last line of a killed generator
            continue
        if not isinstance(rec, dict):
            h.bad_lines += 1
            continue
        kind = rec.get("type")
        if kind in ("http", "dns"):
            if not isinstance(rec.get("t_send"), (int, float)) or "outcome" not in rec:
                h.bad_lines += 1
                continue
            h.ops(kind).append(rec)
        elif kind == "meta":
            h.meta.append(rec)
        elif kind == "start":         # the start time, when it came after the meta record
            for m in reversed(h.meta):
                if m.get("client") == rec.get("client"):
                    m["start"] = rec.get("start")
                    break
        elif kind == "end":
            h.end.append(rec)
        else:
            h.bad_lines += 1
    return h


def merge(histories: Iterable[History]) -> History:
    out = History()
    for h in histories:
        out.http += h.http
        out.dns += h.dns
        out.meta += h.meta
        out.end += h.end
        out.bad_lines += h.bad_lines
        out.sources += h.sources
    out.http.sort(key=lambda r: r["t_send"])
    out.dns.sort(key=lambda r: r["t_send"])
    return out


def load_history(paths: Iterable[str | os.PathLike]) -> History:
    """Read and merge the JSONL histories of many clients; missing files count as empty."""
    parts = []
    for p in paths:
        h = History(sources=[str(p)])
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                parse_lines(f, h)
        except FileNotFoundError:
            pass
        parts.append(h)
    return merge(parts)


def count_lines(path: str | os.PathLike, types: tuple[str, ...] = ("http", "dns")) -> int:
    """How many complete records of these types a (growing) history file has so far; for
    readiness checks (cheap: no JSON parsing)."""
    prefixes = tuple(b'{"type":"%s"' % t.encode() for t in types)
    try:
        with open(Path(path), "rb") as f:
            return sum(1 for line in f if line.endswith(b"\n") and line.startswith(prefixes))
    except FileNotFoundError:
        return 0


def count_ops(path: str | os.PathLike) -> int:
    return count_lines(path, ("http", "dns"))
