"""Processes the lab starts: spawn inside a namespace, identify by (pid, start time), signal, stop.

A PID alone can be reused after the process exits; pairing it with the kernel's start time of
the process (field 22 of /proc/PID/stat) makes "the process we started" exact.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lblab.lab import netns

# Popen objects of children of this process, so they can be reaped (no zombies in long runs).
_children: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class ProcessId:
    pid: int
    starttime: int

    def as_dict(self) -> dict:
        return {"pid": self.pid, "starttime": self.starttime}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces; it is wrapped in the last parentheses pair
    return raw[raw.rindex(")") + 2:].split()


def starttime(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def parent(pid: int) -> int | None:
    """The parent's PID (None: no such process)."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def identify(pid: int) -> ProcessId | None:
    st = starttime(pid)
    return ProcessId(pid, st) if st is not None else None


def alive(proc: ProcessId) -> bool:
    _reap(proc.pid)
    fields = _stat_fields(proc.pid)
    return bool(fields) and int(fields[19]) == proc.starttime and fields[0] not in ("Z", "X")


def exited(proc: ProcessId) -> bool:
    """Gone for good: no such process, or a zombie none of whose threads still runs (a killed
    multi-threaded daemon is a zombie leader while its other threads are still exiting, and
    they may still hold its sockets and files). Whoever is its parent reaps the zombie."""
    _reap(proc.pid)
    fields = _stat_fields(proc.pid)
    if not fields or int(fields[19]) != proc.starttime:
        return True
    if fields[0] not in ("Z", "X"):
        return False
    try:
        return len(os.listdir(f"/proc/{proc.pid}/task")) <= 1
    except FileNotFoundError:
        return True


def state(proc: ProcessId) -> str:
    """'running', 'stopped' (SIGSTOP), or 'dead'."""
    if not alive(proc):
        return "dead"
    fields = _stat_fields(proc.pid)
    return "stopped" if fields and fields[0] in ("T", "t") else "running"


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [int(p) for p in text.split()]


def spawn(ns: str | None, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> ProcessId:
    """Start argv inside namespace ns (None: this process's own) in a session of its own,
    output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(netns.exec_argv(ns, argv) if ns else argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                env={**os.environ, **(env or {})}, cwd=cwd)
    _children[proc.pid] = proc
    ident = identify(proc.pid)
    if ident is None:  # exited already; keep a record that can never match a live process
        proc.wait()
        return ProcessId(proc.pid, -1)
    return ident


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)


def send(proc: ProcessId, sig: int) -> bool:
    """Signal the process if it is still the one we started; True if sent."""
    if not alive(proc):
        return False
    try:
        os.kill(proc.pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_dead(proc: ProcessId, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(proc):
            return True
        time.sleep(0.02)
    return not alive(proc)


def stop(proc: ProcessId, timeout: float = 3.0, sig: int = signal.SIGTERM) -> None:
    """Terminate gracefully (continuing it first if stopped), then SIGKILL after timeout."""
    if not alive(proc):
        return
    send(proc, signal.SIGCONT)
    send(proc, sig)
    if not wait_dead(proc, timeout):
        send(proc, signal.SIGKILL)
        wait_dead(proc, 2.0)


def kill_pids(pids: list[int]) -> None:
    """SIGKILL exactly these PIDs (already verified to be the lab's)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        _reap(pid)
