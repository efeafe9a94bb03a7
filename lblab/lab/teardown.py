"""Tearing a lab down from its ledger alone, so it also cleans up after a killed runner: exactly
the processes, namespaces, files, bridges and links the ledger recorded, nothing by pattern."""
from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from lblab.lab import netns, network, procs
from lblab.lab.errors import LabError
from lblab.lab.ledger import Ledger, known_labs, lab_dir
from lblab.paths import RUN_ROOT

TERM_GRACE = 1.0      # SIGTERM, then SIGKILL what is still alive after this (an etcd leader
                      # whose peers stop with it waits seconds to hand over: nothing to wait for)
EXIT_WAIT = 10.0      # then wait this long for every killed process to be gone


class TeardownError(LabError):
    pass


def _quiet(_message: str) -> None:
    pass


def _wait_gone(processes: list[procs.ProcessId], timeout: float) -> list[procs.ProcessId]:
    """Wait until every process has exited (every thread); those that have not by timeout."""
    deadline = time.monotonic() + timeout
    left = [p for p in processes if not procs.exited(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if not procs.exited(p)]
    return left


def _signal(proc: procs.ProcessId, sig: int) -> None:
    """Signal the process (also a zombie leader whose threads still run) if it is still ours."""
    if not procs.exited(proc):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def stop_processes(ledger: Ledger) -> int:
    """SIGTERM every recorded process, SIGKILL what outlives the grace, then the same for
    anything else inside the lab's namespaces; returns only once all of them have exited."""
    recorded = [procs.ProcessId(r.data["pid"], r.data["starttime"]) for r in ledger.resources("process")]
    running = [p for p in recorded if not procs.exited(p)]
    for proc in running:
        _signal(proc, signal.SIGCONT)
        _signal(proc, signal.SIGTERM)
    for proc in _wait_gone(running, TERM_GRACE):
        _signal(proc, signal.SIGKILL)
    # Whatever else runs inside the lab's namespaces (children, a runner killed between spawn
    # and record, shells) is the lab's: namespace membership is exact.
    others = []
    for found in netns.pids_of_namespaces(_own_namespaces(ledger)).values():
        others += [p for p in map(procs.identify, found) if p is not None]
    for proc in others:
        _signal(proc, signal.SIGKILL)
    survivors = _wait_gone(running + others, EXIT_WAIT)
    if survivors:
        raise TeardownError(f"lab {ledger.lab}: processes still alive after SIGKILL: "
                            f"{', '.join(str(p.pid) for p in survivors)}")
    return len(running) + len(others)


def _own_namespaces(ledger: Ledger) -> list[str]:
    prefix = netns.namespace_name(ledger.lab, "")
    return [r.name for r in ledger.resources("netns") if r.name.startswith(prefix)]


def leftovers(lab: str) -> dict[str, list]:
    """Everything of ``lab`` still on the machine, found independently of its ledger (which
    teardown removes): namespaces, root-side links (by the lab's mark or name tag), namespace
    mounts, /etc/netns entries, processes whose command line names the lab's directory. Empty
    once teardown is done."""
    found: dict[str, list] = {}
    prefix = netns.namespace_name(lab, "")
    found["netns"] = sorted(n for n in os.listdir(netns.NETNS_DIR) if n.startswith(prefix)) \
        if netns.NETNS_DIR.is_dir() else []
    found["links"] = network.lab_links(lab)
    with open("/proc/mounts") as mounts:
        found["mounts"] = [line.split()[1] for line in mounts if f"{netns.NETNS_DIR}/{prefix}" in line]
    found["etc_netns"] = sorted(p.name for p in netns.ETC_NETNS_DIR.glob(f"{prefix}*"))
    marker = f"{RUN_ROOT}/{lab}/".encode()
    found["processes"] = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                    found["processes"].append(int(entry.name))
            except OSError:
                pass
    return {kind: items for kind, items in found.items() if items}


def teardown(name: str, keep_logs: bool = False, progress: Callable[[str], None] = _quiet) -> dict:
    ledger = Ledger(name)
    if not ledger.exists():
        raise LabError(f"no lab named {name!r} (running labs: {', '.join(known_labs()) or 'none'})")
    ledger.load()
    ledger.set(phase="tearing down")
    removed = {"processes": stop_processes(ledger), "netns": 0, "bridges": 0, "veths": 0, "files": 0}
    for ns in _own_namespaces(ledger):
        if netns.exists(ns):
            netns.remove(ns)
            removed["netns"] += 1
    prefix = netns.namespace_name(name, "")
    for record in ledger.resources("netns_etc"):
        path = Path(record.name)
        if path.parent == netns.ETC_NETNS_DIR and path.name.startswith(prefix) and \
                path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            removed["files"] += 1
    for record in ledger.resources("bridge"):
        if network.delete_root_link(record.name, name):
            removed["bridges"] += 1
    # root-side veth ends go away with their namespace peers, asynchronously
    veths = {r.name for r in ledger.resources("veth")}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and veths & network.root_links():
        time.sleep(0.05)
    for veth in sorted(veths & network.root_links()):
        if network.delete_root_link(veth, name):
            removed["veths"] += 1
    ledger.remove_file()
    directory = lab_dir(name)
    if not keep_logs and directory.is_dir() and not directory.is_symlink() and \
            directory.resolve().parent == RUN_ROOT.resolve():
        shutil.rmtree(directory)
    progress(f"lab {name} removed: {removed['processes']} processes, {removed['netns']} namespaces, "
             f"{removed['bridges']} bridges" + (f"; logs kept in {directory}" if keep_logs else ""))
    return removed
