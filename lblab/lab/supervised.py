"""Daemons another daemon of their node starts and stops (the LB node agent's LB server and
announcer). The lab never starts one itself and keeps no ledger record of it: it finds its
process through the supervisor (whose own process it did start), signals it like any other
(a fault's kill, stop, or a restart's SIGTERM), and for a start waits for the supervisor to
bring it back. A child the supervisor keeps stopped on purpose (a standby or drained LB node)
is "held", not dead: heal leaves it so."""
from __future__ import annotations

import time

from lblab.lab import procs
from lblab.lab.errors import DaemonNotReady

HELD = "held"


def supervisor_of(lab, daemon):
    return lab.daemon(daemon.ctx.node, daemon.supervisor)


def process(lab, daemon) -> procs.ProcessId | None:
    supervisor = supervisor_of(lab, daemon)
    main = lab.process_of(supervisor)
    if main is None or not procs.alive(main):
        return None
    return supervisor.child_process(daemon.name, main)


def state(lab, daemon) -> str:
    """running / stopped / held (kept stopped by its supervisor) / dead."""
    main = process(lab, daemon)
    if main is not None:
        return procs.state(main)
    supervisor = supervisor_of(lab, daemon)
    if lab.daemon_state(supervisor) == "running" and supervisor.holds_stopped():
        return HELD
    return "dead"


def wait_ready(lab, daemon, timeout: float | None = None) -> None:
    """Until the child is ready, or held by its supervisor; DaemonNotReady if the supervisor is
    not running or does not bring the child back in time (its restart backoff, then the start)."""
    supervisor = supervisor_of(lab, daemon)
    timeout = timeout or supervisor.child_wait_s(daemon)
    deadline = time.monotonic() + timeout
    reason = "not checked"
    while time.monotonic() < deadline:
        if lab.daemon_state(supervisor) not in ("running", "stopped"):
            raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path,
                                 f"its {supervisor.name} is not running")
        if process(lab, daemon) is None:
            if supervisor.holds_stopped():
                return
            reason = f"not (re)started by the {supervisor.name} yet"
        else:
            try:
                reason = daemon.check_ready()
            except Exception as exc:  # a probe's own failure is just "not ready yet"
                reason = f"{type(exc).__name__}: {exc}"
            if reason is None:
                return
        time.sleep(0.05)
    raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path,
                         f"not ready after {timeout:.0f}s ({reason})")
