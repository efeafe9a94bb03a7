"""Daemons another daemon of their node starts and stops (the LB node agent's LB server and
announcer). The lab never starts one itself and keeps no ledger record of it: it finds its
process through the supervisor (whose own process it did start), signals it like any other
(a fault's kill, stop, or a restart's SIGTERM), and for a start waits for the supervisor to
bring it back. A child the supervisor keeps stopped on purpose (a standby or drained LB node)
is "held", not dead: heal leaves it so."""
from __future__ import annotations

from lblab.lab import procs
from lblab.lab.errors import DaemonNotReady, poll_ready

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

    def probe() -> str | None:
        if lab.daemon_state(supervisor) not in ("running", "stopped"):
            raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path,
                                 f"its {supervisor.name} is not running")
        if process(lab, daemon) is not None:
            return daemon.not_ready_reason()
        return None if supervisor.holds_stopped() else f"not (re)started by the {supervisor.name} yet"
    poll_ready(daemon, timeout or supervisor.child_wait_s(daemon), probe)
