"""What goes wrong with a lab, as the user should read it (the CLI prints these without a
traceback)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


class LabError(RuntimeError):
    pass


class DaemonNotReady(LabError):
    def __init__(self, node: str, daemon: str, log: Path, reason: str):
        tail = ""
        try:
            lines = log.read_text(errors="replace").splitlines()[-12:]
            tail = "\n".join("    " + line for line in lines)
        except FileNotFoundError:
            pass
        super().__init__(f"{daemon} on {node} is not ready: {reason}\n  log: {log}\n{tail}")
        self.node, self.daemon, self.log = node, daemon, log


def poll_ready(daemon, timeout: float, probe: Callable[[], str | None]) -> None:
    """Call ``probe`` every 50 ms until it returns None (ready); it returns why not yet, or
    raises DaemonNotReady when waiting is pointless. DaemonNotReady after ``timeout``."""
    deadline = time.monotonic() + timeout
    reason = "not checked"
    while time.monotonic() < deadline:
        reason = probe()
        if reason is None:
            return
        time.sleep(0.05)
    raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path,
                         f"not ready after {timeout:.0f}s ({reason})")
