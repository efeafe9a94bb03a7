"""Pure functions over recorded operations (dicts from scenarios.history): outcome counts,
success rate, per-LB / per-backend split, time series, disruption windows, latency percentiles.

Times in results are seconds relative to t0, the traffic start (the generators' common
scheduled start, epoch). An operation is *failed* when its outcome is anything but "ok";
"cancelled" operations (the generator was stopped under them) are not judged at all.

A disruption window is a maximal burst of failures: failed operations sorted by send time, a new
window starting whenever a failure comes more than ``gap`` after the previous one. Its start and
end are the send times of its first and last failure, so its duration is a lower bound measured
from the history (one isolated failure is a window of duration 0).
"""
from __future__ import annotations

import bisect
import collections
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .history import History

NOT_JUDGED = frozenset({"cancelled"})


def judged(ops: Iterable[dict]) -> list[dict]:
    return [r for r in ops if r.get("outcome") not in NOT_JUDGED]


def is_failed(rec: dict) -> bool:
    out = rec.get("outcome")
    return out != "ok" and out not in NOT_JUDGED


def select(ops: Iterable[dict], t0: float, after: float = 0.0, before: float | None = None,
           client: str | None = None) -> list[dict]:
    """Judged operations sent in [t0+after, t0+before) (by this client)."""
    lo = t0 + after
    hi = math.inf if before is None else t0 + before
    return [r for r in ops
            if lo <= r["t_send"] < hi and r.get("outcome") not in NOT_JUDGED
            and (client is None or r.get("client") == client)]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in (0, 100]); None for no values."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, math.ceil(round(p / 100.0 * len(s), 9)))
    return s[min(rank, len(s)) - 1]


def latency_stats(ops: Iterable[dict]) -> dict[str, float | int | None]:
    lat = [r["latency"] for r in ops if r.get("outcome") == "ok" and isinstance(r.get("latency"), (int, float))]
    return {"count": len(lat), "p50": percentile(lat, 50), "p90": percentile(lat, 90),
            "p99": percentile(lat, 99), "max": max(lat) if lat else None}


@dataclass
class Window:
    start: float                 # relative to t0: send time of the first failure
    end: float                   # send time of the last failure
    failures: int
    operations: int = 0          # all judged operations sent in [start, end]
    outcomes: dict[str, int] = field(default_factory=dict)
    clients: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duration"] = round(self.duration, 6)
        d["start"] = round(self.start, 6)
        d["end"] = round(self.end, 6)
        return d


def disruption_windows(ops: Iterable[dict], t0: float, gap: float,
                       failed=is_failed) -> list[Window]:
    """Bursts of failures (see module doc); ``failed`` picks which operations count."""
    ordered = sorted(judged(ops), key=lambda r: r["t_send"])
    windows: list[Window] = []
    outcomes: collections.Counter = collections.Counter()
    clients: set[str] = set()
    first = last = None
    count = 0
    for r in ordered:
        if not failed(r):
            continue
        t = r["t_send"]
        if last is not None and t - last > gap:
            windows.append(Window(first - t0, last - t0, count, 0, dict(outcomes), sorted(clients)))
            outcomes, clients, count, first = collections.Counter(), set(), 0, None
        if first is None:
            first = t
        last = t
        count += 1
        outcomes[r["outcome"]] += 1
        if r.get("client"):
            clients.add(r["client"])
    if first is not None:
        windows.append(Window(first - t0, last - t0, count, 0, dict(outcomes), sorted(clients)))
    # how many operations were sent during each window (failed or not)
    if windows:
        times = [r["t_send"] - t0 for r in ordered]
        for w in windows:
            w.operations = bisect.bisect_right(times, w.end + 1e-9) - bisect.bisect_left(times, w.start - 1e-9)
    return windows


def longest(windows: Sequence[Window]) -> Window | None:
    return max(windows, key=lambda w: (w.duration, w.failures), default=None)


def timeseries(ops: Iterable[dict], t0: float, bucket: float, duration: float | None = None) -> list[dict]:
    """[{t, ok, failed}] per bucket of send time (t = bucket start relative to t0)."""
    ok: collections.Counter = collections.Counter()
    bad: collections.Counter = collections.Counter()
    top = -1
    for r in judged(ops):
        i = math.floor((r["t_send"] - t0) / bucket + 1e-9)
        if i < 0:
            continue
        top = max(top, i)
        (ok if r["outcome"] == "ok" else bad)[i] += 1
    n = top + 1
    if duration is not None:
        n = max(n, math.ceil(duration / bucket - 1e-9))
    return [{"t": round(i * bucket, 6), "ok": ok[i], "failed": bad[i]} for i in range(n)]


def split(ops: Iterable[dict], key: str) -> dict[str, int]:
    """Successful operations per value of ``key`` ("lb" or "backend"); missing header -> '?'."""
    c: collections.Counter = collections.Counter()
    for r in ops:
        if r.get("outcome") == "ok":
            c[r.get(key) or "?"] += 1
    return dict(sorted(c.items()))


def summarize(ops: Sequence[dict], t0: float, gap: float, bucket: float,
              duration: float | None = None, with_split: bool = True) -> dict[str, Any]:
    """Everything the report shows about one kind of traffic (http or dns)."""
    ops = judged(ops)
    outcomes = collections.Counter(r["outcome"] for r in ops)
    total = len(ops)
    ok = outcomes.get("ok", 0)
    windows = disruption_windows(ops, t0, gap)
    top = longest(windows)
    per_client: dict[str, dict[str, Any]] = {}
    for r in ops:
        pc = per_client.setdefault(r.get("client") or "?", {"sent": 0, "ok": 0, "failed": 0})
        pc["sent"] += 1
        pc["ok" if r["outcome"] == "ok" else "failed"] += 1
    for pc in per_client.values():
        pc["success_rate"] = round(pc["ok"] / pc["sent"], 6) if pc["sent"] else None
    out: dict[str, Any] = {
        "total": total,
        "ok": ok,
        "failed": total - ok,
        "success_rate": round(ok / total, 6) if total else None,
        "outcomes": dict(outcomes.most_common()),
        "per_client": dict(sorted(per_client.items())),
        "latency": latency_stats(ops),
        "disruptions": [w.to_dict() for w in windows],
        "longest_disruption": round(top.duration, 6) if top else 0.0,
        "timeseries": timeseries(ops, t0, bucket, duration),
    }
    if with_split:
        out["per_lb"] = split(ops, "lb")
        out["per_backend"] = split(ops, "backend")
    return out


def dns_fail_summary(http_ops: Sequence[dict], t0: float, gap: float) -> dict[str, Any]:
    """HTTP requests that failed because the name did not resolve, and their windows."""
    fails = [r for r in http_ops if r.get("outcome") == "dns_fail"]
    windows = disruption_windows(fails, t0, gap)
    return {"count": len(fails), "windows": [w.to_dict() for w in windows],
            "first": round(fails[0]["t_send"] - t0, 6) if fails else None,
            "last": round(fails[-1]["t_send"] - t0, 6) if fails else None}


def generator_stats(history: History) -> dict[str, Any]:
    """Scheduled / sent / missed operations per client, from the end records (or, for a
    generator that was killed before writing one, estimated from its meta record)."""
    per: dict[str, dict[str, int]] = {}
    ended = set()
    for rec in history.end:
        c = rec.get("client") or "?"
        ended.add(c)
        agg = per.setdefault(c, {"scheduled": 0, "sent": 0, "missed": 0})
        for s in rec.get("streams", []):
            for k in agg:
                agg[k] += int(s.get(k, 0))
    for rec in history.meta:
        c = rec.get("client") or "?"
        if c in ended:
            continue
        agg = per.setdefault(c, {"scheduled": 0, "sent": 0, "missed": 0})
        dur = float(rec.get("duration") or 0)
        for s in rec.get("streams", []):
            end = min(dur, s.get("end") or dur)
            agg["scheduled"] += max(0, math.ceil((end - s.get("start", 0)) * s["rate"] - 1e-9))
        agg["sent"] = sum(1 for ops in (history.http, history.dns) for r in ops if r.get("client") == c)
        agg["killed"] = 1
    total = {k: sum(v.get(k, 0) for v in per.values()) for k in ("scheduled", "sent", "missed")}
    return {"per_client": dict(sorted(per.items())), **total,
            "sent_fraction": round(total["sent"] / total["scheduled"], 6) if total["scheduled"] else None}


def analyze(history: History, t0: float, duration: float | None = None, gap: float = 0.25,
            bucket: float = 0.1) -> dict[str, Any]:
    """The raw numbers of a run (JSON-able)."""
    return {
        "t0": t0,
        "gap": gap,
        "bucket": bucket,
        "clients": history.clients(),
        "http": summarize(history.http, t0, gap, bucket, duration),
        "dns": summarize(history.dns, t0, gap, bucket, duration, with_split=False),
        "http_dns_failures": dns_fail_summary(history.http, t0, gap),
        "generators": generator_stats(history),
        "bad_lines": history.bad_lines,
    }
