"""The LB server with several worker processes (settings ``workers``): SO_REUSEPORT listeners,
the supervisor's admin endpoint over every worker, restarts, drain, dying with the supervisor.
Real redis-server, etcd and backend processes on 127.0.0.1."""
from __future__ import annotations

import http.client
import os
import signal
import socket

import pytest
import yaml

from lbapp import keys
from tests.integration.harness import (PY, base_config, free_port, missing_daemons, sigterm_and_check_drain,
                                       wait_until)

pytestmark = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.fixture
def stack(lab):
    etcd, redis = lab.etcd(), lab.redis()
    backends = [lab.backend("be1"), lab.backend("be2")]
    revision = etcd.put_config(base_config(backends))
    lb = lab.lb(etcd, redis, workers=2, drain_grace_ms=300)
    return etcd, redis, backends, lb, revision


def worker_pids(lb) -> list[int]:
    return [w["pid"] for w in lb.status()["workers"]]


def test_workers_share_the_port_and_the_supervisor_reports_all(stack):
    etcd, redis, backends, lb, revision = stack
    status = lb.status()
    assert [w["index"] for w in status["workers"]] == [0, 1]
    pids = worker_pids(lb)
    assert len(set(pids)) == 2 and lb.proc.pid not in pids
    assert status["ready"] and status["config"]["version"] == revision
    # New connections are spread over the workers by the kernel (SO_REUSEPORT).
    for _ in range(40):
        conn = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and resp.getheader("X-LB") == "lb1"
        conn.close()
    accepted = [lb.metric("lbapp_lb_client_connections_accepted_total", worker=str(i))
                for i in (0, 1)]
    assert sum(accepted) >= 40 and min(accepted) >= 1, accepted
    served = sum(lb.metric("lbapp_lb_requests_total", worker=str(i), backend=b.name, code="200")
                 for i in (0, 1) for b in backends)
    assert served == 40
    assert lb.metric("lbapp_lb_workers", state="configured") == 2
    assert lb.metric("lbapp_lb_workers", state="answering") == 2
    assert lb.status()["client_connections"] == 0


def test_status_reports_the_lowest_config_version_until_every_worker_has_it(stack):
    etcd, redis, backends, lb, revision = stack
    wait_until(lambda: lb.status()["redis_connected"], 10, "every worker subscribed to Redis")
    new = etcd.put_config(base_config(backends[:1]))
    assert redis.publish(keys.config_channel("payment")) == 2  # one subscription per worker
    status = wait_until(lambda: (s := lb.status())["config"]["version"] == new and s, 5,
                        "new config applied by every worker")
    assert all(w["config_version"] == new for w in status["workers"])
    assert [b["name"] for b in status["backends"]] == ["be1"]


def test_a_dead_worker_is_restarted_and_readiness_follows(stack):
    _, _, _, lb, revision = stack
    victim = worker_pids(lb)[1]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: lb.admin("/-/ready")[0] == 503, 5, "not ready while a worker is down")
    status = wait_until(lambda: (s := lb.status())["ready"] and s["workers"][1]["pid"] != victim
                        and s, 20, "worker 1 restarted and ready")
    assert status["config"]["version"] == revision
    assert "worker 1" in lb.proc.output() and "restarting" in lb.proc.output()
    assert lb.get("/")[0] == 200


def test_sigterm_drains_every_worker_and_exits_0(stack):
    _, _, _, lb, _ = stack
    pids = worker_pids(lb)
    sigterm_and_check_drain(lb)
    assert not any(alive(pid) for pid in pids)
    assert "every worker has stopped" in lb.proc.output()


def test_workers_die_with_a_killed_supervisor(stack):
    _, _, _, lb, _ = stack
    pids = worker_pids(lb)
    lb.proc.kill()
    wait_until(lambda: not any(alive(pid) for pid in pids), 5, "workers gone")
    # (a killed process's leader thread shows as a zombie a moment before its sockets close)
    wait_until(lambda: refused(lb.port), 5, "nothing listening on the LB port")


def test_a_worker_that_cannot_start_fails_the_supervisor(lab, tmp_path):
    etcd = lab.etcd()
    with socket.socket() as taken:  # a listener without SO_REUSEPORT: the workers cannot bind
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "lb.yaml"
        path.write_text(yaml.safe_dump({
            "name": "lb1", "lb_id": "payment", "listen": [f"127.0.0.1:{port}"],
            "admin_listen": f"127.0.0.1:{free_port()}", "workers": 2,
            "etcd_endpoints": [f"http://127.0.0.1:{etcd.port}"]}))
        proc = lab.start("lb1", [PY, "-m", "lbapp.lbserver", "--settings", str(path)])
        assert proc.wait(30) == 1
    assert "cannot start" in proc.output() and "address already in use" in proc.output().lower()
