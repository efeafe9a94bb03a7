"""Bringing a lab up, fast: the forkserver starts importing first; namespaces are made, and
daemons that need no links (Prometheus, whose first scrape comes ~5 s after it starts) start as
soon as theirs exists; then the links; wave 0 starts at once, later waves once the config DB is
ready and seeded; then the convergence checks. Every step reports a line and its counts."""
from __future__ import annotations

import time
from collections.abc import Callable

from lblab.daemons.base import Daemon, PythonDaemon
from lblab.lab import network, procs
from lblab.lab.converge import wait_converged
from lblab.lab.progress import READY, STARTED, Counts
from lblab.paths import REPO_ROOT

Progress = Callable[[str], None]
FORKSERVER = "lab/forkserver"         # its process record in the ledger
FORKSERVER_START_TIMEOUT = 30.0       # bring-up waits this long for it to have imported


def bring_up(lab, progress: Progress, converge_timeout: float, counts: Counts) -> None:
    start = time.monotonic()

    def step(message: str) -> None:
        progress(f"[{time.monotonic() - start:5.1f}s] {message}")

    daemons = lab.all_daemons()
    counts.expect(STARTED, len(daemons))
    counts.expect(READY, len(daemons))
    lab.counts = counts
    start_forkserver(lab)
    step(f"building network: {len(lab.topo.nodes)} nodes, {len(lab.topo.lans)} LANs")
    early = [d for d in daemons if d.before_links]
    network.create_namespaces(lab.name, lab.topo, lab.ledger, counts, first=[d.ctx.node for d in early],
                              created=lambda node: lab.start_daemons(
                                  [d for d in early if d.ctx.node == node], wait=False))
    network.connect(lab.name, lab.topo, lab.ledger, counts)
    if lab.topo.dns.vip is not None:
        network.write_resolvers(lab.name, list(lab.topo.nodes), str(lab.topo.dns.vip), lab.ledger)
    step("network up; starting infrastructure daemons")
    lab.ledger.set(phase="starting")
    # Wave 0 starts at once; later waves read their config from the DB, so they start once
    # the config DB is ready and seeded, while the rest of wave 0 may still be getting ready.
    waiting: list[Daemon] = []
    for wave in sorted({d.wave for d in daemons}):
        members = [d for d in daemons if d.wave == wave]
        lab.start_daemons([d for d in members if d not in early], wait=False)
        waiting += members
        if wave == 0:
            lab.wait_all_ready([d for d in members if d.config_db])
            lab.seed_config()
            step("config DB ready and seeded")
    lab.wait_all_ready(waiting)
    kinds = sorted({d.name for d in daemons})
    step(f"ready: {', '.join(f'{k} x{sum(d.name == k for d in daemons)}' for k in kinds)}")
    lab.forkserver.wait_until = 0.0
    step("waiting for convergence")
    wait_converged(lab, timeout=converge_timeout, progress=step, counts=counts)
    elapsed = time.monotonic() - start
    lab.ledger.set(phase="up", converged_s=round(elapsed, 2))
    step(f"converged in {elapsed:.1f}s")


def start_forkserver(lab) -> None:
    """The preloaded interpreter that starts the lab's Python daemons (lblab.lab.forkserver),
    in the host's namespace; it imports while the network is built."""
    modules = sorted({d.preload for d in lab.all_daemons() if isinstance(d, PythonDaemon) and d.preload})
    if not modules:
        return
    log = lab.dir / "forkserver.log"
    lab.ledger.add("process", FORKSERVER, node=None, daemon="forkserver", log=str(log), pid=-1, starttime=-1)
    ident = procs.spawn(None, [lab.python, "-m", "lblab.lab.forkserver", "--socket", str(lab.forkserver.path),
                               "--preload", ",".join(modules)], log,
                        env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"})
    lab.ledger.update("process", FORKSERVER, pid=ident.pid, starttime=ident.starttime)
    lab.forkserver.wait_until = time.monotonic() + FORKSERVER_START_TIMEOUT
