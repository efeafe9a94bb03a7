"""A lab: bring-up, its nodes and daemons, and the handle the scenario runner drives
(``scenarios.labapi.Lab``). Teardown is ``lblab.lab.teardown``: it works from the ledger alone."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lbapp.keys import config_key
from lblab import faults
from lblab.daemons.base import Daemon, NodeContext, PythonDaemon
from lblab.daemons.etcd import etcd_endpoints
from lblab.kinds import Hazard, kind_of, kinds
from lblab.kinds.scaling import ScalingMode, mode_of
from lblab.lab import netns, procs, supervised
from lblab.lab.bringup import Progress, bring_up
from lblab.lab.converge import wait_converged
from lblab.lab.consoleapi import ConsoleApi
from lblab.lab.errors import DaemonNotReady, LabError, poll_ready
from lblab.lab.forkserver import ForkClient
from lblab.lab.ledger import Ledger, known_labs, lab_dir
from lblab.lab.progress import READY, STARTED, Counts
from lblab.lab.teardown import teardown
from lblab.topology.load import load_topology, resolve_topology_path
from lblab.topology.model import Topology, initial_lb_config

TOPOLOGY_SNAPSHOT = "topology.yaml"   # the file the lab was built from, as it was then


def _quiet(_message: str) -> None:
    pass


class Lab:
    def __init__(self, name: str, topo: Topology, ledger: Ledger):
        self.name = name
        self.topo = topo
        self.topology = topo.name
        self.ledger = ledger
        self.dir = lab_dir(name)
        self.python = sys.executable
        self._daemons: dict[str, list[Daemon]] = {}
        self.counts = Counts()        # bring-up's counts (daemons started and ready)
        self.forkserver = ForkClient(self.dir / "forkserver.sock")

    # ------------------------------------------------------------------------------------
    # construction
    @classmethod
    def attach(cls, name: str) -> "Lab":
        ledger = Ledger(name)
        if not ledger.exists():
            running = ", ".join(known_labs()) or "none"
            raise LabError(f"no lab named {name!r} is running (running labs: {running})")
        ledger.load()
        snapshot = ledger.dir / TOPOLOGY_SNAPSHOT
        topo = load_topology(str(snapshot) if snapshot.is_file() else ledger.state["topology_path"])
        return cls(name, topo, ledger)

    @staticmethod
    def running(topology: str | None = None) -> list[str]:
        """Labs that are up (of that topology, if given)."""
        labs = []
        for name in known_labs():
            state = Ledger(name).load().state
            if state.get("phase") == "up" and topology in (None, state.get("topology")):
                labs.append(name)
        return labs

    @classmethod
    def default_name(cls, topology: str | None = None) -> str:
        """The one running lab (of that topology, if given); an error naming them otherwise."""
        labs = known_labs() if topology is None else cls.running(topology)
        what = f"{topology} lab" if topology else "lab"
        if len(labs) == 1:
            return labs[0]
        if not labs:
            raise LabError(f"no {what} is running (start one with `lblab up --topo {topology or 'reference'}`)")
        raise LabError(f"several {what}s are running ({', '.join(labs)}): name one with --lab")

    @classmethod
    def up(cls, topology: str, name: str | None = None, progress: Progress = _quiet,
           converge_timeout: float = 60.0, counts: Counts | None = None) -> "Lab":
        """Build the lab and wait until it has converged. ``progress`` gets one line per step,
        ``counts`` the numbers of namespaces, links, daemons and checks done (progress bars)."""
        topo = load_topology(topology)
        name = name or topo.name
        ledger = Ledger(name)
        if ledger.exists():
            raise LabError(f"lab {name!r} already exists; tear it down first: lblab down --lab {name}")
        path = resolve_topology_path(topology).resolve()
        ledger.create(str(path), topo.name)
        (ledger.dir / TOPOLOGY_SNAPSHOT).write_text(path.read_text())
        lab = cls(name, topo, ledger)
        try:
            bring_up(lab, progress, converge_timeout, counts or Counts())
        except BaseException:
            progress("bring-up failed: tearing down what was created")
            teardown(name, keep_logs=True)
            raise
        return lab

    # ------------------------------------------------------------------------------------
    # nodes and daemons
    def ns(self, node: str) -> str:
        if node not in self.topo.nodes:
            raise LabError(f"lab {self.name} has no node {node!r} (nodes: {', '.join(self.topo.nodes)})")
        return netns.namespace_name(self.name, node)

    def ctx(self, node: str) -> NodeContext:
        return NodeContext(self.name, self.topo, node, self.ns(node), self.dir / "nodes" / node)

    def node_names(self, role: str | None = None) -> list[str]:
        return [n for n, spec in self.topo.nodes.items() if role is None or spec.role == role]

    @property
    def mode(self) -> ScalingMode:
        """How clients reach the LB tier here (the topology's scaling mode)."""
        return mode_of(self.topo.scaling)

    def kinds(self):
        """The node kinds present in this lab, in registry order."""
        present = {spec.role for spec in self.topo.nodes.values()}
        return [kind for kind in kinds() if kind.role in present]

    def daemons(self, node: str) -> list[Daemon]:
        """The node's daemons (made once per node: the topology of a lab never changes)."""
        if node not in self._daemons:
            self.ns(node)
            self._daemons[node] = kind_of(self.topo.nodes[node].role).daemons(self.ctx(node))
        return list(self._daemons[node])

    def daemon(self, node: str, name: str) -> Daemon:
        daemons = self.daemons(node)
        for daemon in daemons:
            if daemon.name == name:
                return daemon
        known = ", ".join(d.name for d in daemons) or "none"
        raise LabError(f"node {node} has no daemon {name!r} (its daemons: {known})")

    def all_daemons(self) -> list[Daemon]:
        return [d for node in self.topo.nodes for d in self.daemons(node)]

    def daemons_of_kind(self, name: str) -> list[Daemon]:
        return [d for d in self.all_daemons() if d.name == name]

    def logs_of(self, pairs: list[tuple[str, str]]) -> tuple[str, ...]:
        """Log files of (node, daemon) pairs that exist in this lab, for error messages."""
        found = []
        for node, name in pairs:
            found += [str(d.log_path) for d in self.daemons(node) if d.name == name]
        return tuple(found)

    @staticmethod
    def _record_name(daemon: Daemon) -> str:
        return f"{daemon.ctx.node}/{daemon.name}"

    def process_of(self, daemon: Daemon) -> procs.ProcessId | None:
        if daemon.supervisor is not None:
            return supervised.process(self, daemon)
        self.ledger.refresh()
        record = self.ledger.resource("process", self._record_name(daemon))
        return None if record is None else procs.ProcessId(record.data["pid"], record.data["starttime"])

    def pids_of(self, daemon: Daemon) -> list[procs.ProcessId]:
        main = self.process_of(daemon)
        if main is None or not procs.alive(main):
            return []
        return [main, *daemon.extra_pids(main)]

    def daemon_state(self, daemon: Daemon) -> str:
        if daemon.supervisor is not None:
            return supervised.state(self, daemon)
        main = self.process_of(daemon)
        return "never started" if main is None else procs.state(main)

    def start_daemon(self, daemon: Daemon, wait: bool = True) -> procs.ProcessId | None:
        if daemon.supervisor is not None:   # its supervisor starts it (and renders its config)
            self.counts.add(STARTED)
            if wait:
                self.wait_ready(daemon)
            return self.process_of(daemon)
        main = self.process_of(daemon)
        if main is not None and procs.alive(main):
            raise LabError(f"{daemon.name} on {daemon.ctx.node} is already running (pid {main.pid})")
        daemon.ctx.run_dir.mkdir(parents=True, exist_ok=True)
        daemon.prepare()
        for path, text in daemon.render().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        record = self._record_name(daemon)
        if main is None:
            self.ledger.add("process", record, node=daemon.ctx.node, daemon=daemon.name,
                            log=str(daemon.log_path), pid=-1, starttime=-1)
        ident = self._spawn(daemon)
        self.ledger.update("process", record, pid=ident.pid, starttime=ident.starttime)
        self.counts.add(STARTED)
        if wait:
            self.wait_ready(daemon)
        return ident

    def _spawn(self, daemon: Daemon) -> procs.ProcessId:
        """Forked from the lab's preloaded interpreter when it may be, else a new process (in the
        lab host's namespace for a daemon that moves itself)."""
        ns = None if daemon.host_namespace else daemon.ctx.ns
        fork = daemon.fork_spec() if isinstance(daemon, PythonDaemon) else None
        if fork is not None:
            ident = self.forkserver.spawn(ns, *fork, daemon.log_path, daemon.env())
            if ident is not None:
                return ident
        return procs.spawn(ns, daemon.command(), daemon.log_path, env=daemon.env())

    def wait_ready(self, daemon: Daemon, timeout: float | None = None) -> None:
        if daemon.supervisor is not None:
            supervised.wait_ready(self, daemon, timeout)
            self.counts.add(READY)
            return

        def probe() -> str | None:
            main = self.process_of(daemon)
            if main is None or not procs.alive(main):
                raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path, "process exited")
            return daemon.not_ready_reason()
        poll_ready(daemon, timeout or daemon.ready_timeout, probe)
        self.counts.add(READY)

    def stop_daemon(self, daemon: Daemon, timeout: float = 3.0) -> None:
        main = self.process_of(daemon)
        if main is None:
            return
        extras = daemon.extra_pids(main) if procs.alive(main) else []
        procs.stop(main, timeout=timeout, sig=daemon.stop_signal)
        for extra in extras:
            procs.stop(extra, timeout=1.0)

    def signal_daemon(self, daemon: Daemon, sig: int) -> list[int]:
        """Send sig to the daemon's processes (main and children); returns the PIDs signalled."""
        return [p.pid for p in self.pids_of(daemon) if procs.send(p, sig)]

    def restart_daemon(self, daemon: Daemon, wait: bool = True) -> None:
        self.stop_daemon(daemon)
        self.start_daemon(daemon, wait=wait)

    def start_daemons(self, daemons: list[Daemon], wait: bool = True) -> None:
        """Start all at once (a start forks a process, or waits for the forkserver to have
        imported: none holds up another), then (with ``wait``) wait for all in parallel: members
        of a cluster (etcd) are only ready once enough of them run."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            errors = [f.exception() for f in [pool.submit(self.start_daemon, d, False) for d in daemons]]
        errors = [e for e in errors if e is not None]
        if errors:
            raise errors[0]
        if wait:
            self.wait_all_ready(daemons)

    def wait_all_ready(self, daemons: list[Daemon]) -> None:
        if not daemons:
            return
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(self.wait_ready, d) for d in daemons]
            errors = [f.exception() for f in futures]
        errors = [e for e in errors if e is not None]
        if errors:
            raise LabError("\n".join(str(e) for e in errors))

    # ------------------------------------------------------------------------------------
    # config DB
    def etcdctl(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
        """Run etcdctl against the whole cluster from the first etcd node that is up."""
        endpoints = ",".join(etcd_endpoints(self.topo))
        errors = []
        for node in self.node_names("etcd"):
            result = netns.run(self.ns(node), ["etcdctl", f"--endpoints={endpoints}",
                                               "--command-timeout=3s", *args], timeout=timeout)
            if result.returncode == 0:
                return result
            errors.append(f"{node}: {result.stderr.strip()}")
        raise LabError("etcdctl " + " ".join(args[:2]) + " failed: " + "; ".join(errors))

    def seed_config(self) -> None:
        for lb_id in self.topo.lb_ids():
            self.etcdctl("put", config_key(lb_id), json.dumps(initial_lb_config(self.topo, lb_id)))

    def write_config(self, changes: dict) -> dict:
        """Change the service's LB config through the console's API (keys of ``changes`` replace
        the stored ones; the console validates, writes etcd guarded by the version it read,
        publishes): {revision, committed_at}. The one place the chaos soak writes through."""
        written = ConsoleApi(self).edit(self.topo.service.lb_id, "set", changes)
        return {"revision": written["version"], "committed_at": written["committed_at"]}

    def config_at(self, revision: int | None = None) -> dict | None:
        """The service's LB config as etcd held it at ``revision`` (None: now):
        {mod_revision, config}, or None when the key did not exist then."""
        args = ["get", config_key(self.topo.service.lb_id), "-w", "json"]
        if revision is not None:
            args.append(f"--rev={revision}")
        kvs = json.loads(self.etcdctl(*args).stdout).get("kvs") or []
        if not kvs:
            return None
        return {"mod_revision": int(kvs[0]["mod_revision"]),
                "config": json.loads(base64.b64decode(kvs[0]["value"]))}

    # ------------------------------------------------------------------------------------
    # the scenario runner's handle (scenarios.labapi.Lab)
    @property
    def dns_vip(self) -> str | None:
        return str(self.topo.dns.vip) if self.topo.dns.vip else None

    @property
    def lans(self) -> list[str]:
        return list(self.topo.lans)

    def fault_targets(self, node: str) -> list[str]:
        return kind_of(self.topo.nodes[node].role).fault_targets(self.ctx(node))

    def popen(self, node: str, argv: list[str], stdout_path: str | Path) -> subprocess.Popen:
        stdout_path = Path(stdout_path)
        stdout_path.parent.mkdir(parents=True, exist_ok=True)
        with open(stdout_path, "ab") as out:
            return subprocess.Popen(netns.exec_argv(self.ns(node), argv), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, node: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return netns.run(self.ns(node), argv, timeout=timeout)

    def fault(self, action: str, **params):
        return faults.apply(self, action, params)

    def heal_all(self) -> list[str]:
        return faults.heal_all(self)

    def heal_fault(self, record: dict) -> list[str]:
        return faults.heal(self, record)

    def fault_nodes(self, action: str, params: dict) -> list[str]:
        return faults.fault_nodes(self, action, params)

    def hazards(self) -> list[tuple[str, str, Hazard]]:
        """(role, node, hazard) for every fault the design survives, from the node kinds."""
        return [(spec.role, node, hazard) for node, spec in self.topo.nodes.items()
                for hazard in kind_of(spec.role).hazards(self, node)]

    def fault_budgets(self) -> dict[str, int]:
        """Role -> how many of its nodes may be faulted at once."""
        return {kind.role: kind.fault_budget(self) for kind in self.kinds()}

    def lb_status(self, node: str, timeout: float = 1.0) -> dict:
        """An LB server's own view (its admin /-/status): config version, pid, ..."""
        status, _, body = self.daemon(node, "lbserver").admin_request("GET", "/-/status", timeout)
        if status != 200:
            raise LabError(f"{node}: /-/status answered HTTP {status}")
        return json.loads(body)

    def daemon_states(self) -> dict[str, str]:
        """node/daemon -> running, stopped, dead or never started."""
        return {self._record_name(d): self.daemon_state(d) for d in self.all_daemons()}

    def route_nexthops(self, router: str, prefix: str) -> list[str]:
        return netns.route_nexthops(self.ns(router), prefix)

    def orchestrator_histories(self) -> dict[str, str]:
        return {d.ctx.node: str(d.history_path) for d in self.daemons_of_kind("orchestrator")}

    def wait_converged(self, timeout: float = 30.0, progress: Progress = _quiet) -> float:
        return wait_converged(self, timeout=timeout, progress=progress)


__all__ = ["Lab", "LabError", "DaemonNotReady", "teardown"]
