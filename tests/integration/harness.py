"""Real processes on 127.0.0.1 for the integration tests: redis-server, a single-member etcd,
backend apps and the LB server. Every process is tracked by PID and killed by PID; every wait is
a bounded poll on a readiness condition."""
from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

import dns.exception
import dns.message
import dns.query
import pytest
import yaml

from lbapp import keys
from lbapp.birdctl import BirdControl

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


COREDNS = ROOT / "build" / "bin" / "coredns"


def missing_daemons(*names: str) -> list[str]:
    return [b for b in names or ("redis-server", "etcd") if shutil.which(b) is None]


# pytestmark of a module whose tests run etcd and Redis
needs_daemons = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


class Proc:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._log_file, stderr=subprocess.STDOUT,
                                      cwd=ROOT, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a short wait; always reaps."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log_file.close()

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(5)

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")


class Lab:
    """The processes one test started; ``close`` stops exactly those."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, self.tmp / f"{name}.log")
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    # -- daemons ----------------------------------------------------------------------------
    def redis(self, port: int | None = None) -> "Redis":
        port = port or free_port()
        proc = self.start(f"redis-{port}", ["redis-server", "--port", str(port), "--bind",
                                            "127.0.0.1", "--save", "", "--appendonly", "no"])
        redis = Redis(proc, port)
        wait_until(redis.ping, 10, "redis-server to answer PING")
        return redis

    def etcd(self) -> "Etcd":
        """A single-member etcd."""
        return self.etcd_cluster(1).members[0]

    def etcd_cluster(self, size: int = 3, *flags: str) -> "EtcdCluster":
        """``size`` etcd members on 127.0.0.1 forming one cluster; waits until every member
        reports healthy (which needs a raft leader). ``flags`` go to every member."""
        ports = [(free_port(), free_port()) for _ in range(size)]
        names = [f"etcd{i + 1}" for i in range(size)]
        initial = ",".join(f"{n}=http://127.0.0.1:{peer}" for n, (_, peer) in zip(names, ports))
        token = f"lblab-test-{os.getpid()}-{ports[0][0]}"
        members = []
        for name, (port, peer) in zip(names, ports):
            proc = self.start(name if size > 1 else "etcd", [
                "etcd", "--name", name, "--data-dir", str(self.tmp / f"{name}-data"),
                "--listen-client-urls", f"http://127.0.0.1:{port}",
                "--advertise-client-urls", f"http://127.0.0.1:{port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", initial, "--initial-cluster-token", token,
                "--initial-cluster-state", "new", *flags])
            members.append(Etcd(proc, port, name))
        for member in members:
            wait_until(member.healthy, 30, f"{member.name} /health")
        return EtcdCluster(members)

    def backend(self, name: str, *extra: str, control: bool = False) -> "Backend":
        port = free_port()
        control_port = free_port() if control else None
        if control_port:
            extra = (*extra, "--control-listen", f"127.0.0.1:{control_port}")
        proc = self.start(name, [PY, "-m", "lbapp.backend", "--name", name,
                                 "--listen", f"127.0.0.1:{port}", *extra])
        backend = Backend(proc, name, port, control_port)
        wait_until(lambda: http_get(port, "/health")[0] == 200, 15, f"backend {name}")
        return backend

    def lb_settings(self, etcd: "Etcd", redis: "Redis | None", name: str = "lb1",
                    admin_hosts: tuple[str, ...] = ("127.0.0.1",),
                    **settings) -> tuple[Path, int, int]:
        """Write an LB server settings file -> (path, data port, admin port); the admin
        endpoint on ``admin_hosts`` (the first one is where the tests ask it), one port."""
        port, admin = free_port(), free_port()
        doc = {"name": name, "lb_id": "payment", "listen": [f"127.0.0.1:{port}"],
               "admin_listen": [f"{host}:{admin}" for host in admin_hosts],
               "etcd_endpoints": [f"http://127.0.0.1:{etcd.port}"],
               "redis_url": f"redis://127.0.0.1:{redis.port}/0" if redis else None,
               "drain_grace_ms": 300, "etcd_timeout_ms": 500, **settings}
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path, port, admin

    def lb(self, etcd: "Etcd", redis: "Redis | None", name: str = "lb1",
           wait_ready: bool = True, **settings) -> "LB":
        """An LB server process (settings as ``lb_settings``), its admin endpoint answering."""
        path, port, admin = self.lb_settings(etcd, redis, name, **settings)
        proc = self.start(name, [PY, "-m", "lbapp.lbserver", "--settings", str(path)])
        lb = LB(proc, name, port, admin)
        wait_until(lambda: lb.admin("/-/healthy")[0] == 200 or not proc.alive(), 15,
                   f"{name} admin endpoint")
        assert proc.alive(), proc.output()
        if wait_ready:
            wait_until(lambda: lb.admin("/-/ready")[0] == 200, 15, f"{name} ready")
        return lb


    def console(self, etcd_endpoints: list[str], redis: "Redis | None",
                lb_servers: dict[str, dict[str, str]] | None = None, **settings) -> "Console":
        port = free_port()
        token = "test-token-" + os.urandom(8).hex()
        token_file = self.tmp / "console.token"
        token_file.write_text(token + "\n")
        doc = {"listen": f"127.0.0.1:{port}", "etcd_endpoints": etcd_endpoints,
               "redis_url": f"redis://127.0.0.1:{redis.port}/0" if redis else None,
               "token_file": str(token_file), "lb_servers": lb_servers or {}, **settings}
        path = self.tmp / "console.yaml"
        path.write_text(yaml.safe_dump(doc))
        proc = self.start("console", [PY, "-m", "lbapp.console", "--settings", str(path)])
        console = Console(proc, port, token)
        wait_until(lambda: http_get(port, "/-/healthy")[0] == 200 or not proc.alive(), 15,
                   "console /-/healthy")
        assert proc.alive(), proc.output()
        return console

    def coredns(self, port: int | None = None, zone: str = "payment.example",
                records: str = "lb IN A 10.0.0.100") -> "CoreDns":
        """CoreDNS (the tree's build) authoritative for `zone` on 127.0.0.1:port (a free one)."""
        port = port or free_port()
        zone_file = self.tmp / f"{zone}.db"
        zone_file.write_text(f"$ORIGIN {zone}.\n$TTL 5\n@ IN SOA ns.{zone}. h.{zone}. ( 1 60 10 3600 5 )\n"
                             f"@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n{records}\n")
        corefile = self.tmp / "Corefile"
        corefile.write_text(f"{zone}:{port} {{\n  bind 127.0.0.1\n  file {zone_file}\n}}\n")
        proc = self.start(f"coredns-{port}", [str(COREDNS), "-conf", str(corefile)])
        coredns = CoreDns(proc, port)
        wait_until(lambda: coredns.answers(f"lb.{zone}"), 15, "CoreDNS to answer")
        return coredns

    def bird(self, name: str, config: str) -> "Bird":
        """BIRD with `config`, its control socket in the test's directory."""
        conf, ctl = self.tmp / f"{name}.conf", self.tmp / f"{name}.ctl"
        conf.write_text(config)
        proc = self.start(name, ["bird", "-f", "-c", str(conf), "-s", str(ctl),
                                 "-P", str(self.tmp / f"{name}.pid")])
        bird = Bird(proc, ctl)
        wait_until(lambda: any("Daemon is up" in line for line in bird.control.command("show status"))
                   or not proc.alive(), 15, f"BIRD {name} control socket")
        assert proc.alive(), proc.output()
        return bird


class Console:
    def __init__(self, proc: Proc, port: int, token: str) -> None:
        self.proc, self.port, self.token = proc, port, token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, body=None, version: int | None = None,
             token: str | None = "default", content_type: str = "application/json",
             raw: bytes | None = None) -> tuple[int, dict, dict]:
        """One API request -> (status, headers, JSON answer or {})."""
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = content_type
        status, answer_headers, answer = http_get(self.port, path, method=method,
                                                  headers=headers, body=data)
        try:
            doc = json.loads(answer) if answer else {}
        except ValueError:
            doc = {"text": answer.decode(errors="replace")}
        return status, answer_headers, doc


class CoreDns:
    def __init__(self, proc: Proc, port: int) -> None:
        self.proc, self.port = proc, port

    def answers(self, name: str) -> bool:
        query = dns.message.make_query(name, "A")
        try:
            return bool(dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.5).answer)
        except (dns.exception.DNSException, OSError):
            return False


class Bird:
    def __init__(self, proc: Proc, socket_path: Path) -> None:
        self.proc = proc
        self.control = BirdControl(str(socket_path))


class Redis:
    def __init__(self, proc: Proc, port: int) -> None:
        self.proc, self.port = proc, port

    def _command(self, *args: str) -> bytes:
        payload = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(payload)
            return s.recv(1024)

    def ping(self) -> bool:
        return self._command("PING").startswith(b"+PONG")

    def publish(self, channel: str, message: str = "changed") -> int:
        reply = self._command("PUBLISH", channel, message)
        return int(reply[1:].split(b"\r\n")[0])


class Etcd:
    def __init__(self, proc: Proc, port: int, name: str = "etcd") -> None:
        self.proc, self.port, self.name = proc, port, name

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
            return json.load(r).get("health") == "true"

    def put(self, key: str, value: str) -> int:
        """Write a key; returns the new revision."""
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": base64.b64encode(value.encode()).decode()}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v3/kv/put", data=body,
                                     method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(json.load(r)["header"]["revision"])

    def put_config(self, config: dict | str, lb_id: str = "payment") -> int:
        text = config if isinstance(config, str) else json.dumps(config)
        return self.put(keys.config_key(lb_id), text)

    def put_health(self, backend: str, healthy: bool, lb_id: str = "payment") -> int:
        return self.put(keys.health_prefix(lb_id) + backend,
                        json.dumps({"healthy": healthy, "by": "test"}))


class EtcdCluster:
    def __init__(self, members: list[Etcd]) -> None:
        self.members = members

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def status(self, member: Etcd) -> dict:
        req = urllib.request.Request(f"{member.endpoint}/v3/maintenance/status", data=b"{}",
                                     method="POST")
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.load(r)

    def leader(self) -> Etcd:
        """The member that is raft leader now (asked of the members that answer)."""
        ids = {}
        for member in self.members:
            try:
                status = self.status(member)
            except OSError:
                continue
            ids[int(status["header"]["member_id"])] = member
            leader_id = int(status.get("leader") or 0)
        return ids[leader_id]

    def follower(self) -> Etcd:
        leader = self.leader()
        return next(m for m in self.members if m is not leader)


class Backend:
    def __init__(self, proc: Proc, name: str, port: int, control_port: int | None = None) -> None:
        self.proc, self.name, self.port, self.control_port = proc, name, port, control_port

    def entry(self, **extra) -> dict:
        return {"name": self.name, "address": "127.0.0.1", "port": self.port, **extra}

    def knobs(self, method: str = "GET", update: dict | None = None) -> tuple[int, dict]:
        """GET/PATCH/DELETE the backend's run-time knobs on its control listener."""
        body = json.dumps(update).encode() if update is not None else None
        status, _, reply = http_get(self.control_port, "/-/knobs", method=method, body=body,
                                    headers={"Content-Type": "application/json"})
        return status, json.loads(reply)


class LB:
    def __init__(self, proc: Proc, name: str, port: int, admin_port: int) -> None:
        self.proc, self.name, self.port, self.admin_port = proc, name, port, admin_port

    def admin(self, path: str, method: str = "GET") -> tuple[int, bytes]:
        status, _, body = http_get(self.admin_port, path, method=method)
        return status, body

    def status(self) -> dict:
        return json.loads(self.admin("/-/status")[1])

    def metric(self, name: str, **labels: str) -> float:
        """Value of one sample of /metrics (0.0 if absent)."""
        return metric_value(self.admin("/metrics")[1].decode(), name, **labels)

    def get(self, path: str = "/", **kw) -> tuple[int, dict, bytes]:
        return http_get(self.port, path, **kw)


def metric_value(text: str, name: str, **labels: str) -> float:
    """Value of the first sample of ``name`` with these labels in Prometheus text (0.0 if
    absent)."""
    want = set(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric, _, label_text = sample.partition("{")
        if metric != name:
            continue
        have = set(label_text.rstrip("}").split(",")) if label_text else set()
        if want <= have:
            return float(value)
    return 0.0


def http_get(port: int, path: str, method: str = "GET", headers: dict | None = None,
             body: bytes | None = None, timeout: float = 5) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def base_config(backends: list[Backend], **extra) -> dict:
    return {"backend_servers": [b.entry() for b in backends], "poll_frequency": 1000, **extra}


def sigterm_and_check_drain(lb: "LB") -> None:
    """SIGTERM the LB with a keep-alive client connection open: readiness drops at once, the
    open connection is still served during the grace period (told to close), and the LB exits 0."""
    conn = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().read()
    lb.proc.signal(signal.SIGTERM)
    wait_until(lambda: lb.admin("/-/ready")[0] == 503, 2, "not ready after SIGTERM")
    conn.request("GET", "/")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200 and resp.getheader("Connection") == "close"
    assert lb.proc.wait(10) == 0
