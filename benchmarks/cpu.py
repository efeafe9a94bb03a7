"""CPU accounting from /proc: what a process tree used between two readings, and how busy each
CPU of the machine was."""
from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """pid and every descendant (children of all its threads), depth first."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                text = Path(f"/proc/{current}/task/{tid}/children").read_text()
            except OSError:
                continue
            todo.extend(int(p) for p in text.split())
    return found


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of one process (all its threads), in clock ticks; (0, 0) if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)


def cpu_snapshot(roots: list[int]) -> dict[int, tuple[int, int]]:
    return {pid: cpu_ticks(pid) for root in roots for pid in process_tree(root)}


def cpu_seconds_between(before: dict[int, tuple[int, int]],
                        after: dict[int, tuple[int, int]]) -> tuple[float, float]:
    """(user, system) CPU seconds used between two snapshots by the processes seen in the
    second one (a process that appeared in between counts from zero)."""
    user = system = 0
    for pid, (u, s) in after.items():
        u0, s0 = before.get(pid, (0, 0))
        if u >= u0 and s >= s0:
            user += u - u0
            system += s - s0
    return user / CLK_TCK, system / CLK_TCK


def cpu_times() -> dict[str, tuple[int, int]]:
    """Per CPU (``cpu0`` ...): (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if name.startswith("cpu") and name != "cpu":
            values = [int(v) for v in rest.split()]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already in user
            out[name] = (total - idle, total)
    return out


def cpu_busy_between(before: dict[str, tuple[int, int]],
                     after: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Busy % of each CPU between two /proc/stat readings (all processes, softirq included)."""
    busy = {}
    for name, (b1, t1) in after.items():
        b0, t0 = before.get(name, (b1, t1))
        busy[name] = round(100 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else 0.0
    return busy
