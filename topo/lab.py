"""A lab: bring-up, daemon lifecycle, teardown. The scenario runner and the CLI drive labs
through this class (it implements scenarios.labapi.LabHandle)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from topo import netns, network, procs
from topo.daemons import Daemon, NodeContext, daemon_by_name, daemons_for
from topo.daemons.controlplane import ETCD_CLIENT_PORT
from topo.ledger import Ledger, known_labs, lab_dir
from topo.spec import Topology, initial_lb_config, load_topology

Progress = Callable[[str], None]


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

    # ------------------------------------------------------------------------------------
    # construction
    @classmethod
    def attach(cls, name: str) -> "Lab":
        ledger = Ledger(name)
        if not ledger.exists():
            running = ", ".join(known_labs()) or "none"
            raise LabError(f"no lab named {name!r} is running (running labs: {running})")
        ledger.load()
        topo = load_topology(ledger.state["topology_path"])
        return cls(name, topo, ledger)

    @classmethod
    def default_name(cls) -> str:
        labs = known_labs()
        if len(labs) == 1:
            return labs[0]
        if not labs:
            raise LabError("no lab is running (start one with `lblab up --topo reference`)")
        raise LabError(f"several labs are running ({', '.join(labs)}): name one with --lab")

    @classmethod
    def up(cls, topology: str, name: str | None = None, progress: Progress = _quiet,
           converge_timeout: float = 60.0) -> "Lab":
        topo = load_topology(topology)
        name = name or topo.name
        ledger = Ledger(name)
        if ledger.exists():
            raise LabError(f"lab {name!r} already exists; tear it down first: lblab down --lab {name}")
        ledger.create(str(Path(topology if "/" in topology or topology.endswith(".yaml")
                                   else Path(__file__).parent / f"{topology}.yaml").resolve()), topo.name)
        lab = cls(name, topo, ledger)
        try:
            lab._bring_up(progress, converge_timeout)
        except BaseException:
            progress("bring-up failed: tearing down what was created")
            teardown(name, keep_logs=True)
            raise
        return lab

    def _bring_up(self, progress: Progress, converge_timeout: float) -> None:
        start = time.monotonic()

        def step(message: str) -> None:
            progress(f"[{time.monotonic() - start:5.1f}s] {message}")

        step(f"building network: {len(self.topo.nodes)} nodes, {len(self.topo.lans)} LANs")
        network.build(self.name, self.topo, self.ledger)
        if self.topo.dns.vip is not None:
            for node in self.topo.nodes:
                network.write_resolver(self.name, node, str(self.topo.dns.vip), self.ledger)
        step("network up; starting infrastructure daemons")
        self.ledger.set(phase="starting")
        self._start_wave(0, step)
        self.seed_config()
        step("config DB seeded; starting LB servers and announcers")
        self._start_wave(1, step)
        step("waiting for convergence (BGP, ECMP, VRRP, DNS, etcd, Prometheus)")
        from topo.converge import wait_converged

        wait_converged(self, timeout=converge_timeout, progress=step)
        elapsed = time.monotonic() - start
        self.ledger.set(phase="up", converged_s=round(elapsed, 2))
        step(f"converged in {elapsed:.1f}s")

    # ------------------------------------------------------------------------------------
    # nodes and daemons
    def ns(self, node: str) -> str:
        if node not in self.topo.nodes:
            raise LabError(f"lab {self.name} has no node {node!r} (nodes: {', '.join(self.topo.nodes)})")
        return network.namespace_name(self.name, node)

    def ctx(self, node: str) -> NodeContext:
        return NodeContext(self.name, self.topo, node, self.ns(node), self.dir / "nodes" / node)

    def node_names(self, role: str | None = None) -> list[str]:
        return [n for n, spec in self.topo.nodes.items() if role is None or spec.role == role]

    def daemons(self, node: str) -> list[Daemon]:
        return daemons_for(self.ctx(node))

    def daemon(self, node: str, name: str) -> Daemon:
        try:
            return daemon_by_name(self.ctx(node), name)
        except KeyError as exc:
            raise LabError(exc.args[0]) from None

    def all_daemons(self) -> list[Daemon]:
        return [d for node in self.topo.nodes for d in self.daemons(node)]

    @staticmethod
    def _record_name(daemon: Daemon) -> str:
        return f"{daemon.ctx.node}/{daemon.name}"

    def process_of(self, daemon: Daemon) -> procs.ProcessId | None:
        self.ledger.refresh()
        for record in self.ledger.resources("process"):
            if record.name == self._record_name(daemon):
                return procs.ProcessId(record.data["pid"], record.data["starttime"])
        return None

    def pids_of(self, daemon: Daemon) -> list[procs.ProcessId]:
        main = self.process_of(daemon)
        if main is None or not procs.alive(main):
            return []
        return [main, *daemon.extra_pids(main)]

    def daemon_state(self, daemon: Daemon) -> str:
        main = self.process_of(daemon)
        return "never started" if main is None else procs.state(main)

    def start_daemon(self, daemon: Daemon, wait: bool = True) -> procs.ProcessId:
        main = self.process_of(daemon)
        if main is not None and procs.alive(main):
            raise LabError(f"{daemon.name} on {daemon.ctx.node} is already running (pid {main.pid})")
        daemon.ctx.run_dir.mkdir(parents=True, exist_ok=True)
        for path, text in daemon.render().items():
            path.write_text(text)
        daemon.prepare()
        record = self._record_name(daemon)
        if main is None:
            self.ledger.add("process", record, node=daemon.ctx.node, daemon=daemon.name,
                            log=str(daemon.log_path), pid=-1, starttime=-1)
        ident = procs.spawn(daemon.ctx.ns, daemon.argv(), daemon.log_path, env=daemon.env())
        self.ledger.update("process", record, pid=ident.pid, starttime=ident.starttime)
        if wait:
            self.wait_ready(daemon)
        return ident

    def wait_ready(self, daemon: Daemon, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or daemon.ready_timeout)
        reason = "not checked"
        while time.monotonic() < deadline:
            main = self.process_of(daemon)
            if main is None or not procs.alive(main):
                raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path, "process exited")
            try:
                reason = daemon.check_ready()
            except Exception as exc:  # a probe's own failure is just "not ready yet"
                reason = f"{type(exc).__name__}: {exc}"
            if reason is None:
                return
            time.sleep(0.05)
        raise DaemonNotReady(daemon.ctx.node, daemon.name, daemon.log_path,
                             f"not ready after {timeout or daemon.ready_timeout:.0f}s ({reason})")

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
        targets = self.pids_of(daemon)
        return [p.pid for p in targets if procs.send(p, sig)]

    def restart_daemon(self, daemon: Daemon, wait: bool = True) -> None:
        self.stop_daemon(daemon)
        self.start_daemon(daemon, wait=wait)

    def _start_wave(self, wave: int, step: Progress) -> None:
        daemons = [d for d in self.all_daemons() if d.wave == wave]
        self.start_daemons(daemons)
        kinds = sorted({d.name for d in daemons})
        step(f"ready: {', '.join(f'{k} x{sum(d.name == k for d in daemons)}' for k in kinds)}")

    def start_daemons(self, daemons: list[Daemon], wait: bool = True) -> None:
        """Start all, then wait for all in parallel: members of a cluster (etcd) are only ready
        once enough of them run, so waiting for each in turn would never finish."""
        for daemon in daemons:
            self.start_daemon(daemon, wait=False)
        if not wait:
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
        from topo.daemons.controlplane import etcd_endpoints

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
        from lbapp.keys import config_key

        config = json.dumps(initial_lb_config(self.topo))
        self.etcdctl("put", config_key(self.topo.service.lb_id), config)

    # ------------------------------------------------------------------------------------
    # the scenario runner's handle (scenarios.labapi.LabHandle)
    @property
    def dns_vip(self) -> str | None:
        return str(self.topo.dns.vip) if self.topo.dns.vip else None

    def popen(self, node: str, argv: list[str], stdout_path: str | Path) -> subprocess.Popen:
        stdout_path = Path(stdout_path)
        stdout_path.parent.mkdir(parents=True, exist_ok=True)
        with open(stdout_path, "ab") as out:
            return subprocess.Popen(netns.exec_argv(self.ns(node), argv), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, node: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return netns.run(self.ns(node), argv, timeout=timeout)

    def fault(self, action: str, **params):
        from topo import faults

        return faults.apply(self, action, **params)

    def heal_all(self) -> list[str]:
        from topo import faults

        return faults.heal_all(self)

    def route_nexthops(self, router: str, prefix: str) -> list[str]:
        from topo.converge import route_nexthops

        return route_nexthops(self, router, prefix)

    def wait_converged(self, timeout: float = 30.0, progress: Progress = _quiet) -> float:
        from topo.converge import wait_converged

        return wait_converged(self, timeout=timeout, progress=progress)


# ----------------------------------------------------------------------------------------
# teardown: works from the ledger alone, so it also cleans up after a killed runner


def teardown(name: str, keep_logs: bool = False, progress: Progress = _quiet) -> dict:
    ledger = Ledger(name)
    if not ledger.exists():
        raise LabError(f"no lab named {name!r} (running labs: {', '.join(known_labs()) or 'none'})")
    ledger.load()
    ledger.set(phase="tearing down")
    removed = {"processes": 0, "netns": 0, "bridges": 0, "veths": 0, "files": 0}

    records = ledger.resources("process")
    running = [procs.ProcessId(r.data["pid"], r.data["starttime"]) for r in records]
    running = [p for p in running if procs.alive(p)]
    for proc in running:
        procs.send(proc, signal.SIGCONT)
        procs.send(proc, signal.SIGTERM)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and any(procs.alive(p) for p in running):
        time.sleep(0.05)
    for proc in running:
        if procs.alive(proc):
            procs.send(proc, signal.SIGKILL)
    removed["processes"] += len(running)

    # Whatever still runs inside the lab's namespaces (children, a runner killed between spawn
    # and record, shells) is the lab's: namespace membership is exact.
    namespaces = [r.name for r in ledger.resources("netns")]
    for name_ in namespaces:
        leftover = netns.pids(name_)
        if leftover:
            procs.kill_pids(leftover)
            removed["processes"] += len(leftover)
    for name_ in namespaces:
        if netns.exists(name_):
            netns.remove(name_)
            removed["netns"] += 1
    for record in ledger.resources("netns_etc"):
        path = Path(record.name)
        if path.parent == netns.ETC_NETNS_DIR and path.is_dir():
            shutil.rmtree(path)
            removed["files"] += 1
    for record in ledger.resources("bridge"):
        if network.delete_root_link(record.name, name):
            removed["bridges"] += 1
    # root-side veth ends go away with their namespace peers, asynchronously
    veths = [r.name for r in ledger.resources("veth")]
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(network.link_alias(v) is not None for v in veths):
        time.sleep(0.05)
    for veth in veths:
        if network.delete_root_link(veth, name):
            removed["veths"] += 1
    ledger.remove_file()
    directory = lab_dir(name)
    if not keep_logs and directory.is_dir():
        shutil.rmtree(directory)
    progress(f"lab {name} removed: {removed['processes']} processes, {removed['netns']} namespaces, "
             f"{removed['bridges']} bridges" + (f"; logs kept in {directory}" if keep_logs else ""))
    return removed
