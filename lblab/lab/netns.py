"""Named network namespaces: create/remove, run commands inside, open sockets inside.

Sockets keep the namespace they were created in, so the engine can talk to lab addresses from
its own process (readiness checks, DNS probes) without ever routing lab prefixes in the root
namespace: a thread briefly switches into the node's namespace, creates the socket, switches back.
"""
from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2 import netns as _pr_netns

NETNS_DIR = Path("/run/netns")
ETC_NETNS_DIR = Path("/etc/netns")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def namespace_name(lab: str, node: str) -> str:
    """The named namespace of a lab's node (`ip netns exec <lab>-<node> ...`)."""
    return f"{lab}-{node}"


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create(name: str) -> None:
    """A new named namespace with its loopback up. A short-lived thread unshares its own network
    namespace and bind-mounts it at /run/netns/<name> (as `ip netns add` does), so no process is
    forked: a lab creates many."""
    failed: list[BaseException] = []

    def in_new_namespace() -> None:
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unshare for {name}: {os.strerror(err)}")
            _pr_netns.attach(name, "thread-self")
            with IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=in_new_namespace, name=f"netns-{name}")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]


def remove(name: str) -> None:
    if exists(name):
        _pr_netns.remove(name)


def inode(name: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except FileNotFoundError:
        return None


def pids(name: str) -> list[int]:
    """PIDs of every process whose network namespace is this one (exact membership)."""
    return pids_of_namespaces([name]).get(name, [])


def pids_of_namespaces(names: list[str]) -> dict[str, list[int]]:
    """Namespace -> PIDs of the processes in it, for many namespaces in one pass over /proc."""
    by_inode = {ino: name for name in names if (ino := inode(name)) is not None}
    found: dict[str, list[int]] = {name: [] for name in by_inode.values()}
    if not by_inode:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            name = by_inode.get(os.stat(f"/proc/{entry.name}/ns/net").st_ino)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if name is not None:
            found[name].append(int(entry.name))
    return found


def exec_argv(name: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", name, *argv]


def run(name: str, argv: list[str], timeout: float = 10, check: bool = False,
        input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(exec_argv(name, argv), capture_output=True, text=True, timeout=timeout,
                          check=check, input=input)


def sysctl(name: str, settings: dict[str, str | int]) -> None:
    """Set net.* sysctls of the namespace: /proc/sys/net shows the namespace of the thread that
    opens it, so this thread writes them from inside."""
    with entered(name):
        for key, value in settings.items():
            path = Path("/proc/sys", *key.split("."))
            try:
                path.write_text(f"{value}\n")
            except OSError as exc:
                raise RuntimeError(f"sysctl {key}={value} in {name} failed: {exc.strerror}") from None


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns {what}: {os.strerror(err)}")


def join(name: str) -> None:
    """Move the calling thread into namespace `name` for good: in a process that has one thread
    yet, the whole process (threads started later inherit it). Sockets made before keep theirs."""
    target = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        _setns(target, f"into {name}")
    finally:
        os.close(target)


@contextmanager
def entered(name: str):
    """Switch the calling thread into namespace `name` for the duration of the block."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        join(name)
        try:
            yield
        finally:
            _setns(own, f"back from {name}")
    finally:
        os.close(own)


def socket_in(name: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    with entered(name):
        return socket.socket(family, kind)


@contextmanager
def ipr(name: str):
    """A netlink handle (pyroute2 IPRoute) on the namespace's kernel: its socket is made from
    inside and keeps the namespace, so no helper process is forked (pyroute2's NetNS forks one)."""
    with entered(name):
        handle = IPRoute()
    try:
        yield handle
    finally:
        handle.close()


def route_nexthops(name: str, prefix: str, table: int = 254) -> list[str]:
    """Gateways of the kernel route for prefix in the namespace's table (one per ECMP nexthop)."""
    net = ipaddress.ip_network(prefix)
    gateways: list[str] = []
    with ipr(name) as ns:
        for route in ns.get_routes(family=socket.AF_INET, table=table):
            if route.get_attr("RTA_DST") != str(net.network_address) or route["dst_len"] != net.prefixlen:
                continue
            multipath = route.get_attr("RTA_MULTIPATH")
            if multipath:
                gateways += [hop.get_attr("RTA_GATEWAY") for hop in multipath]
            elif route.get_attr("RTA_GATEWAY"):
                gateways.append(route.get_attr("RTA_GATEWAY"))
    return sorted(g for g in gateways if g)


def has_address(name: str, address: str) -> bool:
    with ipr(name) as ns:
        return any(a.get_attr("IFA_ADDRESS") == address for a in ns.get_addr(family=socket.AF_INET))
