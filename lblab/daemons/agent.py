"""The agent on an LB node (``python -m lbapp.agent``, like a kubelet): it runs the node's LB
server and announcer while the orchestrator wants the node active and the operator has not
drained it, restarts a child that dies, and drains and stops them otherwise. The lab renders
the children's configs with the agent's and finds their processes through its state file
(``lblab.lab.supervised``); faults, status and Prometheus still see them by their own names."""
from __future__ import annotations

import json
from pathlib import Path

from lblab.daemons.base import Daemon, NodeContext, PythonDaemon
from lblab.daemons.etcd import etcd_endpoints
from lblab.lab import procs
from lblab.lab.templates import render

ETCD_TIMEOUT_MS = 500
LEASE_TTL_S = 2
# a crashed child waits 1 s before its restart (the crash scenarios see the LB withdrawn until
# then), doubling up to 8 s while it keeps crashing
RESTART_BACKOFF_MS = (1000, 8000)
STOP_TIMEOUT_MS = 10_000      # a draining LB server finishes in-flight requests within this


class Agent(PythonDaemon):
    kind = "agent"
    module = "lbapp.agent"
    preload = "lbapp.agent"
    wave = 1            # etcd holds the desired states

    def __init__(self, ctx: NodeContext, children: list[Daemon]):
        super().__init__(ctx)
        self.children = children
        for child in children:
            child.supervisor = self.name

    @property
    def settings_path(self) -> Path:
        return self.path(".yaml")

    @property
    def state_path(self) -> Path:
        return self.path(".state")

    @property
    def initial_state(self) -> str:
        return "standby" if self.ctx.spec.standby else "active"

    def child_spec(self, child: Daemon) -> dict:
        return {"name": child.name, "argv": child.command(), "env": child.env(), "log_file": str(child.log_path),
                "ready_url": child.ready_url(), "drain_url": child.drain_url(), "stop_timeout_ms": STOP_TIMEOUT_MS,
                "preload": getattr(child, "preload", None)}

    def render(self) -> dict[Path, str]:
        files: dict[Path, str] = {}
        for child in self.children:
            files.update(child.render())
        files[self.settings_path] = render(
            "agent.yaml.j2", lab=self.ctx.lab, node=self.ctx.node, lb_id=self.ctx.topo.lb_id_of(self.ctx.node),
            etcd_endpoints=etcd_endpoints(self.ctx.topo), etcd_timeout_ms=ETCD_TIMEOUT_MS,
            initial_state=self.initial_state, lease_ttl_s=LEASE_TTL_S, state_file=str(self.state_path),
            restart_backoff_ms=RESTART_BACKOFF_MS, children=[self.child_spec(c) for c in self.children])
        return files

    def prepare(self) -> None:
        for child in self.children:
            child.prepare()
        self.state_path.unlink(missing_ok=True)

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--settings", str(self.settings_path)]

    def check_ready(self) -> str | None:
        return None if self.state() is not None else "no state file yet"

    # --- what the lab reads of its children -------------------------------------------------
    def state(self) -> dict | None:
        """The agent's state file: phase, desired, drained, children (name -> pid), pid."""
        try:
            doc = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def child_process(self, name: str, agent: procs.ProcessId) -> procs.ProcessId | None:
        """The running child of that name, if the state file names one that is really the
        agent's child (a PID alone could have been reused)."""
        pid = ((self.state() or {}).get("children") or {}).get(name)
        if not isinstance(pid, int) or isinstance(pid, bool) or procs.parent(pid) != agent.pid:
            return None
        return procs.identify(pid)

    def holds_stopped(self) -> bool:
        """The agent keeps its children stopped: the node is desired standby, or drained."""
        state = self.state() or {}
        return state.get("desired") == "standby" or bool(state.get("drained"))

    def child_wait_s(self, child: Daemon) -> float:
        """Longest a dead child may take to be ready again: the backoff, then its start."""
        return RESTART_BACKOFF_MS[1] / 1000 + child.ready_timeout
