"""Mininet hosts on a lab's existing namespaces, for `lblab cli` (Mininet's CLI on a running lab):
each host's shell runs inside the node's named namespace, and stopping the host stops only that
shell (the namespace, links and daemons belong to the lab)."""
from __future__ import annotations

import os
import pty
import select
import signal

from mininet.node import Host


def _stop_shell_only(node) -> None:
    """Stop a Mininet node's shell but nothing else: the namespace, links and daemons belong to
    the lab (Mininet's own terminate would also delete interfaces)."""
    if node.shell and node.shell.poll() is None:
        os.killpg(node.shell.pid, signal.SIGHUP)
        node.shell.wait()
    node.cleanup()


class NamespaceHost(Host):
    """A Mininet host whose shell runs in an existing named namespace (ip netns exec), so the
    namespace outlives the Mininet process and is reachable by `ip netns exec <lab>-<node>`."""

    def __init__(self, name, netns_name: str, **params):
        self.netns_name = netns_name
        super().__init__(name, inNamespace=True, **params)

    def startShell(self, mnopts=None):
        cmd = ["mnexec", "-cd", "ip", "netns", "exec", self.netns_name, "env", "PS1=" + chr(127),
               "bash", "--norc", "--noediting", "-is", "mininet:" + self.name]
        self.master, self.slave = pty.openpty()
        self.shell = self._popen(cmd, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                 close_fds=False)
        self.stdin = os.fdopen(self.master, "r")
        self.stdout = self.stdin
        self.pid = self.shell.pid
        self.pollOut = select.poll()
        self.pollOut.register(self.stdout)
        self.outToNode[self.stdout.fileno()] = self
        self.inToNode[self.stdin.fileno()] = self
        self.execed = False
        self.lastCmd = None
        self.lastPid = None
        self.readbuf = ""
        while True:
            data = self.read(1024)
            if data[-1] == chr(127):
                break
            self.pollOut.poll()
        self.waiting = False
        self.cmd("unset HISTFILE; stty -echo; set +m")

    def mountPrivateDirs(self):
        pass

    def unmountPrivateDirs(self):
        pass

    def configDefault(self, **_params):
        # Addresses come from the topology (set per interface at link time), never Mininet's
        # automatic 10.0.0.0/8 plan.
        self.cmd("ip link set lo up")

    def terminate(self):
        _stop_shell_only(self)
