"""The backend app's run-time knobs, set over its control listener, seen on the data plane."""
from __future__ import annotations

import socket
import time

import pytest

from tests.integration.harness import http_get


@pytest.fixture
def backend(lab):
    return lab.backend("be1", control=True)


def health(backend) -> int:
    return http_get(backend.port, "/health", timeout=2)[0]


def test_health_answer_and_latency(backend):
    status, knobs = backend.knobs("PATCH", {"health": {"status": 503}})
    assert status == 200 and knobs["health"]["status"] == 503
    assert health(backend) == 503
    assert http_get(backend.port, "/")[0] == 200  # still serves
    backend.knobs("PATCH", {"health": {"status": 200, "latency_ms": 300}})
    started = time.monotonic()
    assert health(backend) == 200
    assert time.monotonic() - started >= 0.3
    assert backend.knobs("DELETE")[1]["health"]["latency_ms"] == 0
    assert health(backend) == 200


def test_every_other_health_check_fails(backend):
    backend.knobs("PATCH", {"health": {"fail_every": 2}})
    assert [health(backend) for _ in range(6)] == [200, 503] * 3


def test_serve_fail_ratio(backend):
    backend.knobs("PATCH", {"serve": {"fail_ratio": 1.0, "fail_status": 502}})
    assert http_get(backend.port, "/")[0] == 502
    assert health(backend) == 200          # scopes are separate
    assert http_get(backend.port, "/metrics")[0] == 200  # metrics are never faulted


def test_hang_accepts_and_never_answers(backend):
    backend.knobs("PATCH", {"health": {"hang": True}})
    with socket.create_connection(("127.0.0.1", backend.port), timeout=0.5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(socket.timeout):
            sock.recv(100)
    assert http_get(backend.port, "/")[0] == 200
    backend.knobs("PATCH", {"health": {"hang": False}})
    assert health(backend) == 200


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b"[]", b"null", b'{"health": {"status": 99}}',
    b'{"health": {"status": "503"}}', b'{"serve": {"fail_ratio": NaN}}',
    b'{"serve": {"hang": "true"}}', b'{"evil": 1}', b'{"health": {"status": 503}, "x": 0}',
    b"[" * 8000 + b"]" * 8000, b'{"health": ' * 1200 + b"1" + b"}" * 1200,
])
def test_hostile_updates_rejected_and_nothing_applied(backend, body):
    status, _, reply = http_get(backend.control_port, "/-/knobs", method="PATCH", body=body)
    assert status == 400, reply
    assert b"knobs:" in reply
    assert backend.knobs()[1]["health"]["status"] == 200
    assert health(backend) == 200


def test_oversized_body_rejected(backend):
    status, _, _ = http_get(backend.control_port, "/-/knobs", method="PATCH",
                            body=b'{"health": {}}' + b" " * 100_000)
    assert status == 413
    assert health(backend) == 200


def test_knobs_not_on_the_data_plane(backend):
    for method in ("GET", "PATCH", "DELETE", "POST"):
        assert http_get(backend.port, "/-/knobs", method=method,
                        body=b'{"health": {"status": 503}}')[0] == 404
    assert http_get(backend.port, "/-/health?ok=0", method="POST")[0] == 404
    assert health(backend) == 200


def test_control_port_must_differ_from_listen(lab, tmp_path):
    from tests.integration.harness import PY, free_port

    port = free_port()
    proc = lab.start("bad", [PY, "-m", "lbapp.backend", "--name", "x", "--listen",
                             f"127.0.0.1:{port}", "--control-listen", f"127.0.0.1:{port}"])
    assert proc.wait(10) == 2
    assert "--control-listen must use a port" in proc.output()
