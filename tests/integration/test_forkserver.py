"""The lab's preloaded interpreter (lblab.lab.forkserver): it starts a module by forking, each
child in a session of its own with its own log, environment, arguments and random sequence; it
starts a real backend that serves; bad requests get an error and start nothing; without a server
the client says so (the lab then starts a new process)."""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from lblab.lab import procs
from lblab.lab.forkserver import ForkClient
from tests.integration.harness import PY, free_port, wait_until

PROBE = '''
import json, os, random, sys
if __name__ == "__main__":     # preloading imports it; the forked child runs it as __main__
    print(json.dumps({"argv": sys.argv[1:], "random": random.random(), "sid": os.getsid(0),
                      "pid": os.getpid(), "env": os.environ.get("PROBE_VALUE")}), flush=True)
    sys.exit(int(sys.argv[1]))
'''


@pytest.fixture
def server(lab, tmp_path, monkeypatch):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "forkprobe.py").write_text(PROBE)
    path = tmp_path / "fork.sock"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(modules), str(Path(__file__).resolve().parents[2])]))
    proc = lab.start("forkserver", [PY, "-m", "lblab.lab.forkserver", "--socket", str(path),
                                    "--preload", "forkprobe,lbapp.backend.main"])
    client = ForkClient(path)
    client.wait_until = time.monotonic() + 30
    wait_until(lambda: path.exists() or not proc.alive(), 30, "the forkserver's socket")
    assert proc.alive(), proc.output()
    return client, proc, tmp_path


def record(log: Path) -> dict:
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def test_children_get_their_own_arguments_environment_session_and_randomness(server):
    client, proc, tmp = server
    children = []
    for i in range(2):
        log = tmp / f"probe{i}.log"
        ident = client.spawn(None, "forkprobe", ["7", f"x{i}"], log, {"PROBE_VALUE": f"v{i}"})
        children.append((ident, log))
    seen = []
    for ident, log in children:
        wait_until(lambda: procs.exited(ident), 10, "the probe to exit")
        wait_until(lambda: log.exists() and "{" in log.read_text(), 10, "the probe's output")
        seen.append(record(log))
        assert log.read_text().startswith("--- ") and "start (forked, preloaded): python -m forkprobe" in log.read_text()
    assert [s["argv"] for s in seen] == [["7", "x0"], ["7", "x1"]]
    assert [s["env"] for s in seen] == ["v0", "v1"]
    assert all(s["sid"] == s["pid"] for s in seen), "each child leads a session of its own"
    assert seen[0]["random"] != seen[1]["random"], "forked children must not share a random sequence"
    assert proc.alive()


def test_a_preloaded_backend_serves_and_stops_on_sigterm(server):
    client, _, tmp = server
    port = free_port()
    ident = client.spawn(None, "lbapp.backend", ["--name", "be9", "--listen", f"127.0.0.1:{port}"],
                         tmp / "be9.log", {})
    try:
        def health():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                return r.status == 200 and r.headers.get("X-Backend") == "be9"
        wait_until(health, 20, "the forked backend to answer /health")
        assert procs.alive(ident)
        os.kill(ident.pid, signal.SIGTERM)
        wait_until(lambda: procs.exited(ident), 15, "the backend to exit on SIGTERM")
    finally:
        procs.send(ident, signal.SIGKILL)


def test_children_are_reaped_by_the_server(server):
    client, proc, tmp = server
    ident = client.spawn(None, "forkprobe", ["0"], tmp / "quick.log", {})
    wait_until(lambda: not Path(f"/proc/{ident.pid}").exists(), 10, "the exited child to be reaped")


@pytest.mark.parametrize("request_line", [
    b"not json\n", b"[]\n", b'{"module": "forkprobe"}\n',
    b'{"module": "forkprobe", "log": "/tmp/x", "args": "7"}\n',
    b'{"module": "forkprobe", "log": "/tmp/x", "args": [], "ns": 5}\n',
    b'{"module": "forkprobe", "log": "/tmp/x", "args": [], "ns": null, "env": {"A": 1}}\n',
])
def test_bad_requests_are_refused_and_start_nothing(server, request_line):
    import socket as socketlib

    client, proc, _ = server
    before = procs.children(proc.pid)
    with socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(client.path))
        sock.sendall(request_line)
        answer = json.loads(sock.recv(4096))
    assert "error" in answer and "pid" not in answer
    assert procs.children(proc.pid) == before
    assert proc.alive()


def test_without_a_server_the_client_says_so(tmp_path):
    client = ForkClient(tmp_path / "none.sock")
    assert client.spawn(None, "forkprobe", [], tmp_path / "x.log", {}) is None
    assert not (tmp_path / "x.log").exists()
