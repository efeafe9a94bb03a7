"""Fast starts for the agent's Python children: a zygote, forked from the agent before it starts
its event loop or any thread, imports the children's modules once and forks each child from
there (`lbapp.prefork`), so a restart costs a fork instead of a new interpreter importing the
LB server for ~1.3 s of CPU — seconds on a busy two-core box, during which the node serves
nothing.

The child is the zygote's grandchild: the zygote forks an intermediate process that forks the
child and exits, so the child is reparented to the agent (a child subreaper), which then waits
for it like any child of its own (`ReparentedProcess`, through a pidfd). The child waits until
it is the agent's before it asks for SIGTERM on the agent's death, as a directly started child
does. A child that is not ``python -m MODULE`` of this interpreter, or any failure of the
zygote, falls back to starting a new process."""
from __future__ import annotations

import asyncio
import ctypes
import importlib
import json
import logging
import os
import signal
import socket
import sys
import time

from lbapp.prefork import become

log = logging.getLogger("lbapp.agent.zygote")

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
REQUEST_LIMIT = 1 << 20
REPARENT_WAIT_S = 2.0


def prctl(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL(None).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Zygote:
    """The agent's end: ``spawn`` asks the zygote for a child and returns its PID."""

    def __init__(self, modules: list[str]):
        self.sock: socket.socket | None = None
        if not modules or not prctl(PR_SET_CHILD_SUBREAPER, 1):
            return
        agent_pid = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ours.close()
                code = _serve(theirs, modules, agent_pid)
            finally:
                os._exit(code)
        theirs.close()
        self.sock, self.pid = ours, pid

    def spawn(self, module: str, args: list[str], env: dict[str, str], cwd: str | None,
              log_file: str | None) -> int | None:
        """The child's PID, or None when the zygote cannot start it (start a process instead)."""
        if self.sock is None:
            return None
        request = {"module": module, "args": args, "env": env, "cwd": cwd, "log": log_file}
        try:
            self.sock.settimeout(10.0)
            self.sock.send(json.dumps(request).encode())
            answer = json.loads(self.sock.recv(4096) or b"{}")
        except (OSError, ValueError) as exc:
            log.warning("zygote unusable (%s): children start as new processes", exc)
            self.close()
            return None
        if not isinstance(answer.get("pid"), int):
            log.warning("zygote could not start %s: %s", module, answer.get("error"))
            return None
        return answer["pid"]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _serve(sock: socket.socket, modules: list[str], agent_pid: int) -> int:
    """The zygote: import, then fork one child per request until the agent closes its end."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)       # nothing to finish: go with the agent
    failed: dict[str, str] = {}
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a child of this module then starts as a process
            failed[module] = f"{module}: {type(exc).__name__}: {exc}"
    while True:
        data = sock.recv(REQUEST_LIMIT)
        if not data:
            return 0
        try:
            request = json.loads(data)
            if request["module"] in failed:
                raise ValueError(failed[request["module"]])
            pid = _fork_grandchild(request, agent_pid)
            sock.send(json.dumps({"pid": pid}).encode())
        except (ValueError, KeyError, TypeError, OSError) as exc:
            sock.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())


def _fork_grandchild(request: dict, agent_pid: int) -> int:
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read_end)
        child = os.fork()
        if child == 0:
            os.close(write_end)
            _run_child(request, agent_pid)
        os.write(write_end, str(child).encode())
        os._exit(0)
    os.close(write_end)
    pid = int(os.read(read_end, 32) or b"0")
    os.close(read_end)
    os.waitpid(middle, 0)        # once reaped, the child is the agent's
    if pid <= 0:
        raise OSError("the intermediate process did not fork")
    return pid


def _run_child(request: dict, agent_pid: int) -> None:
    code = 1
    try:
        deadline = time.monotonic() + REPARENT_WAIT_S
        while os.getppid() != agent_pid and time.monotonic() < deadline:
            time.sleep(0.001)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != agent_pid:        # the agent is already gone
            os._exit(1)
        code = become(request["module"], list(request["args"]), request["log"], dict(request["env"]),
                      request["cwd"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class ReparentedProcess:
    """A child the zygote started, waited for by the agent through a pidfd; the parts of
    ``asyncio.subprocess.Process`` the agent uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._exited = self._loop.create_future()
        self._fd = os.pidfd_open(pid)
        self._loop.add_reader(self._fd, self._reap)

    def _reap(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        try:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:     # not ours after all: its status is lost
            self.returncode = -1
        self._exited.set_result(self.returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
