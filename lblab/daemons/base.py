"""One class per daemon: render its config from a template, its start command, how to tell it is
ready, and how to stop it. The lab (``lblab.lab``) drives these; daemons never touch the ledger.
Every concrete daemon class is listed in ``DAEMON_CLASSES`` by the name faults and status use."""
from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lblab.lab import netns, procs
from lblab.paths import REPO_ROOT
from lblab.topology.model import Topology, interface_name

DAEMON_CLASSES: dict[str, list[type["Daemon"]]] = {}


@dataclass(frozen=True)
class NodeContext:
    lab: str
    topo: Topology
    node: str
    ns: str
    run_dir: Path            # this node's directory for configs, logs, sockets and data

    @property
    def lab_dir(self) -> Path:
        """The lab's run directory (``run_dir`` is <lab dir>/nodes/<node>)."""
        return self.run_dir.parent.parent

    @property
    def spec(self) -> Any:
        return self.topo.nodes[self.node]

    def address(self, lan: str) -> str:
        return str(self.spec.interfaces[lan])

    @property
    def control_address(self) -> str:
        """Address other nodes use to reach this node's management endpoints."""
        return str(self.topo.control_address(self.node))

    @property
    def first_address(self) -> str:
        return str(next(iter(self.spec.interfaces.values())))

    def interface(self, lan: str) -> str:
        return interface_name(lan)

    def peer(self, node: str) -> "NodeContext":
        """The context of another node of the same lab."""
        return NodeContext(self.lab, self.topo, node, netns.namespace_name(self.lab, node),
                           self.run_dir.parent / node)


class Daemon:
    """A daemon kind. Subclasses set `kind` and implement render/argv/check_ready."""

    kind: ClassVar[str]
    # 0: infrastructure, started first; 1: started after the config DB is seeded
    wave: ClassVar[int] = 0
    ready_timeout: ClassVar[float] = 15.0
    stop_signal: ClassVar[int] = signal.SIGTERM
    # started as soon as the node's namespace exists, before its links (it must not need them
    # to start: it listens on every address of the node, not on one that is not there yet)
    before_links: ClassVar[bool] = False
    config_db: ClassVar[bool] = False    # holds the LB config: later waves start once it is ready
    # started in the lab host's namespace instead of the node's (a forwarder that moves itself)
    host_namespace: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            DAEMON_CLASSES.setdefault(cls.kind, []).append(cls)

    def __init__(self, ctx: NodeContext, name: str | None = None, cpus: str | None = None):
        self.ctx = ctx
        self._name = name
        self.cpus = cpus          # pinned to these CPUs (taskset list) when given
        # the daemon of the same node that starts and stops this one (lblab.lab.supervised);
        # None: the lab does
        self.supervisor: str | None = None

    # --- identity and files -------------------------------------------------------------
    @property
    def name(self) -> str:
        """Unique per node: the kind, unless a second instance on the node is named otherwise."""
        return self._name or self.kind

    def path(self, suffix: str) -> Path:
        return self.ctx.run_dir / f"{self.name}{suffix}"

    @property
    def log_path(self) -> Path:
        return self.path(".log")

    # --- what subclasses provide ----------------------------------------------------------
    def render(self) -> dict[Path, str]:
        """Config files to write before start: path -> text."""
        return {}

    def argv(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        """What the lab runs: argv, pinned to ``cpus`` if given."""
        return ["taskset", "-c", self.cpus, *self.argv()] if self.cpus else self.argv()

    def env(self) -> dict[str, str]:
        return {}

    def check_ready(self) -> str | None:
        """None when ready, else a short reason it is not (yet)."""
        return None

    def not_ready_reason(self) -> str | None:
        """``check_ready``, with a probe's own failure counted as "not ready yet"."""
        try:
            return self.check_ready()
        except Exception as exc:  # noqa: BLE001 - a probe that fails is a daemon not ready
            return f"{type(exc).__name__}: {exc}"

    def metrics_endpoint(self) -> tuple[str, int, str] | None:
        """(address, port, path) Prometheus scrapes, or None for a daemon without metrics."""
        return None

    def ready_url(self) -> str | None:
        """For a supervisor inside the node: 200 here once the daemon is ready (None: running is ready)."""
        return None

    def drain_url(self) -> str | None:
        """For a supervisor inside the node: POST here to stop it gracefully (None: SIGTERM)."""
        return None

    def extra_pids(self, main: procs.ProcessId) -> list[procs.ProcessId]:
        """Processes besides the main one that belong to this daemon (e.g. forked children)."""
        return [p for p in (procs.identify(c) for c in procs.children(main.pid)) if p]

    def prepare(self) -> None:
        """Create directories etc. before start."""


class PythonDaemon(Daemon):
    """A daemon that is one of this repository's Python modules, run with the lab's interpreter."""

    module: ClassVar[str]
    # what the lab's forkserver imports ahead so it can start this daemon by forking
    # (lblab.lab.forkserver); None: always a new interpreter
    preload: ClassVar[str | None] = None

    @staticmethod
    def python() -> str:
        return sys.executable

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}

    def fork_spec(self) -> tuple[str, list[str]] | None:
        """(module, arguments) when the lab's forkserver may start this daemon: it preloads the
        module and the daemon runs this repository's code unpinned (another source tree or a
        taskset needs a new process)."""
        argv = self.command()
        if (self.preload is None or argv[:3] != [self.python(), "-m", self.module]
                or self.env().get("PYTHONPATH") != str(REPO_ROOT)):
            return None
        return self.module, argv[3:]
