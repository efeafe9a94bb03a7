"""The LB server's admin endpoint off the data plane, and connection exhaustion as the admin
endpoint shows it (real LB process, etcd, backend app; 127.0.0.1 only)."""
from __future__ import annotations

import socket
import subprocess

import pytest
import yaml

from tests.integration.harness import PY, ROOT, base_config, http_get, missing_daemons, wait_until

pytestmark = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")


def test_admin_answers_on_each_admin_address_and_not_on_the_data_plane(lab):
    etcd = lab.etcd()
    etcd.put_config(base_config([lab.backend("be1")]))
    lb = lab.lb(etcd, None, admin_hosts=("127.0.0.1", "127.0.0.2"))
    for host in ("127.0.0.1", "127.0.0.2"):
        with socket.create_connection((host, lb.admin_port), timeout=2) as sock:
            sock.sendall(b"GET /-/healthy HTTP/1.0\r\n\r\n")
            assert sock.recv(100).split(b" ")[1] == b"200"
    with pytest.raises(ConnectionRefusedError):  # another loopback address: not bound
        socket.create_connection(("127.0.0.3", lb.admin_port), timeout=2)
    # the data plane forwards /-/drain like any path: the backend answers, the LB keeps serving
    status, headers, _ = http_get(lb.port, "/-/drain", method="POST")
    assert headers["x-backend"] == "be1"
    assert lb.admin("/-/ready")[0] == 200


def test_a_wildcard_admin_address_is_refused_at_start(lab, tmp_path):
    path = tmp_path / "lb.yaml"
    path.write_text(yaml.safe_dump({
        "name": "lb1", "lb_id": "payment", "listen": ["127.0.0.1:18080"],
        "admin_listen": "0.0.0.0:19100", "etcd_endpoints": ["http://127.0.0.1:1"]}))
    proc = subprocess.run([PY, "-m", "lbapp.lbserver", "--settings", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "admin_listen" in proc.stderr
    assert "admin_allow_wildcard" in proc.stderr


def test_malformed_admin_requests_are_logged_one_line_each(lab):
    etcd = lab.etcd()
    etcd.put_config(base_config([lab.backend("be1")]))
    lb = lab.lb(etcd, None)
    bad = [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
           b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"]
    for raw in bad:
        with socket.create_connection(("127.0.0.1", lb.admin_port), timeout=2) as sock:
            sock.sendall(raw)
            assert sock.recv(100).split(b" ")[1] == b"400"

    def logged() -> list[str]:
        return [line for line in lb.proc.output().splitlines()
                if "admin: malformed request from 127.0.0.1" in line]
    wait_until(lambda: len(logged()) == len(bad), 5, "one log line per malformed admin request")
    assert "Traceback" not in lb.proc.output()


def test_exhausted_slots_show_in_status_and_metrics(lab):
    etcd = lab.etcd()
    etcd.put_config(base_config([lab.backend("be1")]))
    lb = lab.lb(etcd, None, max_connections=3)
    held = []
    for _ in range(3):  # every slot taken by a connection reading a head
        sock = socket.create_connection(("127.0.0.1", lb.port), timeout=2)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        held.append(sock)
    wait_until(lambda: lb.status()["connections"]["head"] == 3, 5, "three heads in progress")
    status, _, _ = http_get(lb.port, "/")
    assert status == 503
    report = lb.status()["connections"]
    assert report["open"] == 3 and report["limit"] == 3 and report["rejected"] == 1
    assert lb.metric("lbapp_lb_client_connections_limit") == 3
    assert lb.metric("lbapp_lb_client_connection_states", state="head") == 3
    assert lb.metric("lbapp_lb_client_connections_rejected_total") == 1
    for sock in held:
        sock.close()
