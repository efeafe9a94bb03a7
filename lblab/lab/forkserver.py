"""The lab's preloaded Python interpreter: it imports the lab's Python daemons (LB server, backend,
announcer) once, then starts each of them by forking, inside the node's namespace, instead of a
new interpreter importing everything again. A reference lab starts 13 of these and a scale lab
over a hundred; each import costs 0.3-1.3 s of CPU, which on two cores was most of bring-up.

Server: ``python -m lblab.lab.forkserver --socket PATH --preload MODULE[,MODULE...]`` imports the
modules, then listens on PATH (a Unix socket in the lab's directory, mode 0600). A request is one
JSON line {ns (null: the server's own), module, args, log, env}; the server forks and answers {"pid": N}. The child starts
a session of its own, writes to the log (stdout and stderr, appended), joins the namespace
(setns: the network only — these daemons use neither the namespace's /etc nor its /sys, which
`ip netns exec` would also set up), updates its environment, reseeds ``random`` (forked children
would otherwise share one sequence) and runs the module as ``python -m`` would. The server reaps
its children; the lab records each child by (pid, start time) like any other process.

Client: ``ForkClient(path).spawn(...)`` returns the child's ProcessId, or None when no server
answers (the lab then starts the daemon as a new process)."""
from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

from lbapp.prefork import become
from lblab.lab import procs
from lblab.lab.netns import CLONE_NEWNET, NETNS_DIR

REQUEST_LIMIT = 1 << 20


# ---------------------------------------------------------------------------------- server
def _reap(_signum, _frame) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(request: dict) -> int:
    """In the forked child: a session of its own, the node's namespace, then the daemon."""
    os.setsid()
    if request["ns"] is not None:
        target = os.open(NETNS_DIR / request["ns"], os.O_RDONLY)
        if ctypes.CDLL(None, use_errno=True).setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            print(f"forkserver: setns into {request['ns']}: {os.strerror(err)}", file=sys.stderr)
            return 1
        os.close(target)
    return become(request["module"], request["args"], request["log"], request.get("env") or {})


def _serve_one(conn: socket.socket, listener: socket.socket) -> None:
    data = b""
    while not data.endswith(b"\n") and len(data) < REQUEST_LIMIT:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    try:
        request = json.loads(data)
        if not isinstance(request, dict) or not all(isinstance(request.get(k), str) for k in ("module", "log")):
            raise ValueError("a request needs module and log")
        if not isinstance(request.get("ns"), (str, type(None))):
            raise ValueError("ns must be a namespace name or null")
        if not isinstance(request.get("args"), list) or not all(isinstance(a, str) for a in request["args"]):
            raise ValueError("args must be a list of strings")
        env = request.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError("env must map names to strings")
    except ValueError as exc:
        conn.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            conn.close()
            listener.close()
            code = _child(request)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def serve(path: Path, preload: list[str]) -> None:
    for module in preload:
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, _reap)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    listener.settimeout(1.0)
    print(f"forkserver: {len(preload)} module(s) preloaded, listening on {path}", flush=True)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if not path.exists():   # the lab is gone (torn down before it recorded this process)
                return
            continue
        conn.settimeout(None)
        with conn:
            conn.settimeout(5.0)
            try:
                _serve_one(conn, listener)
            except OSError as exc:
                print(f"forkserver: request failed: {exc}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lblab.lab.forkserver", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--preload", default="", help="comma-separated modules to import ahead")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(args.socket, [m for m in args.preload.split(",") if m])
    return 0


# ---------------------------------------------------------------------------------- client
class ForkClient:
    """Asks the lab's forkserver to start a daemon. ``wait_until`` (a monotonic deadline): while
    the server is still importing, keep trying until then instead of giving up at once."""

    def __init__(self, path: Path):
        self.path = path
        self.wait_until = 0.0

    def _connect(self) -> socket.socket | None:
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() >= self.wait_until:
                    return None
                time.sleep(0.02)

    def spawn(self, ns: str | None, module: str, args: list[str], log_path: Path,
              env: dict[str, str]) -> procs.ProcessId | None:
        sock = self._connect()
        if sock is None:
            return None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start (forked, preloaded): python -m {module} "
                      f"{' '.join(args)}\n".encode())
        request = {"ns": ns, "module": module, "args": args, "log": str(log_path), "env": env}
        with sock:
            sock.settimeout(10.0)
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        answer = json.loads(reply) if reply else {"error": "no answer"}
        if "pid" not in answer:
            raise RuntimeError(f"forkserver {self.path}: {answer.get('error')}")
        ident = procs.identify(answer["pid"])
        return ident if ident is not None else procs.ProcessId(answer["pid"], -1)


if __name__ == "__main__":
    sys.exit(main())
