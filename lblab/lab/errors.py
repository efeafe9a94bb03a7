"""What goes wrong with a lab, as the user should read it (the CLI prints these without a
traceback)."""
from __future__ import annotations

from pathlib import Path


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
