"""Faults of one daemon on one node, by signal: a crash, a graceful stop, a hang and its end,
and a restart."""
from __future__ import annotations

import signal
import time
from typing import Literal

from lblab.faults.base import Fault, FaultError
from lblab.faults.params import DaemonName, NodeName
from lblab.lab import procs

# what a restart or a node coming back clears
DAEMON_FAULTS = ("kill", "term", "stop")
KILLED_WITHIN_S = 2.0     # a SIGKILLed process is gone (its parent reaped it) within this


class _DaemonFault(Fault):
    node: NodeName
    daemon: DaemonName

    def target(self, lab):
        return lab.daemon(self.node, self.daemon)

    def signal(self, lab, sig: int) -> dict:
        pids = lab.signal_daemon(self.target(lab), sig)
        if not pids:
            raise FaultError(f"{self.daemon} on {self.node} is not running")
        return self.record(lab, pids=pids)


class Kill(_DaemonFault):
    """Crash: SIGKILL every process of the daemon (main and children); heal starts it again."""

    action: Literal["kill"] = "kill"

    def apply(self, lab) -> dict:
        """Applied once the processes are gone, so what follows sees the crash, not a race."""
        killed = lab.pids_of(self.target(lab))
        record = self.signal(lab, signal.SIGKILL)
        deadline = time.monotonic() + KILLED_WITHIN_S
        while any(procs.alive(p) for p in killed) and time.monotonic() < deadline:
            time.sleep(0.01)
        return record


class Term(_DaemonFault):
    """Graceful stop: SIGTERM; heal starts it again."""

    action: Literal["term"] = "term"

    def apply(self, lab) -> dict:
        return self.signal(lab, signal.SIGTERM)


class Stop(_DaemonFault):
    """Hang: SIGSTOP (undone by cont or heal)."""

    action: Literal["stop"] = "stop"

    def apply(self, lab) -> dict:
        return self.signal(lab, signal.SIGSTOP)

    def undo(self, lab, record: dict) -> None:
        lab.signal_daemon(self.target(lab), signal.SIGCONT)


class Cont(_DaemonFault):
    """End a hang: SIGCONT."""

    action: Literal["cont"] = "cont"

    def apply(self, lab) -> dict:
        pids = lab.signal_daemon(self.target(lab), signal.SIGCONT)
        self.forget(lab, self.recorded(lab, ("stop",), node=self.node, daemon=self.daemon))
        return self.done(pids=pids)


class Restart(_DaemonFault):
    """Start the daemon again (killing it first if it runs) and wait until it is ready."""

    action: Literal["restart"] = "restart"

    def apply(self, lab) -> dict:
        lab.restart_daemon(self.target(lab))
        self.forget(lab, self.recorded(lab, DAEMON_FAULTS, node=self.node, daemon=self.daemon))
        return self.done()
