"""What the supervisor of a multi-worker LB server makes of its workers' answers."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from lbapp.lbserver.workers import merge_metrics, merge_status


def worker_doc(version, applied_at, ready=True, reason=None, connections=0, backends=(),
               refreshes=None, **extra):
    return {"name": "lb1", "lb_id": "payment", "ready": ready, "not_ready_reason": reason,
            "draining": False,
            "config": None if version is None else {"version": version, "applied_at": applied_at,
                                                    "age_seconds": 1.0, "algorithm": "round_robin"},
            "config_rejected": 0, "config_refreshes": refreshes or {"poll/unchanged": 1},
            "redis_connected": True, "etcd_reachable": True, "client_connections": connections,
            "ejected": [], "backends": list(backends), **extra}


def backend(name, idle, conns, healthy=True, ejected=False):
    return {"name": name, "address": "10.1.0.11", "port": 8081, "healthy": healthy,
            "ejected": ejected, "idle_connections": idle, "connections": conns}


def test_lowest_version_wins_and_its_latest_apply_time():
    status = merge_status("lb1", "payment", False, [
        (0, 100, worker_doc(7, 50.0, connections=3, backends=[backend("be1", 1, 2)])),
        (1, 101, worker_doc(6, 40.0, connections=4, backends=[backend("be1", 2, 5, ejected=True)])),
        (2, 102, worker_doc(6, 45.0)),
    ])
    assert status["config"]["version"] == 6 and status["config"]["applied_at"] == 45.0
    assert status["ready"] and status["not_ready_reason"] is None
    assert status["client_connections"] == 7
    assert [w["config_version"] for w in status["workers"]] == [7, 6, 6]
    assert [w["pid"] for w in status["workers"]] == [100, 101, 102]
    assert status["backends"] == [{**backend("be1", 3, 7, ejected=True)}]
    assert status["config_refreshes"] == {"poll/unchanged": 3}


def test_no_config_while_a_worker_has_none_or_does_not_answer():
    missing = merge_status("lb1", "payment", False, [(0, 100, worker_doc(7, 50.0)),
                                                     (1, 101, worker_doc(None, None, ready=False,
                                                                         reason="no config loaded yet"))])
    assert missing["config"] is None and not missing["ready"]
    assert missing["not_ready_reason"] == "worker 1: no config loaded yet"
    silent = merge_status("lb1", "payment", False, [(0, 100, worker_doc(7, 50.0)), (1, 101, None)])
    assert silent["config"] is None
    assert silent["not_ready_reason"] == "worker 1 does not answer"
    down = merge_status("lb1", "payment", False, [(0, None, None), (1, 101, worker_doc(7, 1.0))])
    assert down["not_ready_reason"] == "worker 0 not running"
    assert down["workers"][0]["running"] is False


def test_draining_supervisor_is_not_ready():
    status = merge_status("lb1", "payment", True, [(0, 100, worker_doc(7, 50.0))])
    assert not status["ready"] and status["draining"]
    assert status["not_ready_reason"] == "draining"


WORKER_METRICS = """\
# HELP lbapp_lb_requests_total Client requests answered, by backend and status code.
# TYPE lbapp_lb_requests_total counter
lbapp_lb_requests_total{backend="be1",code="200"} %d
# HELP lbapp_lb_request_duration_seconds Time from request head to the end of the response.
# TYPE lbapp_lb_request_duration_seconds histogram
lbapp_lb_request_duration_seconds_bucket{backend="be1",le="0.001"} 2.0
lbapp_lb_request_duration_seconds_bucket{backend="be1",le="+Inf"} 3.0
lbapp_lb_request_duration_seconds_count{backend="be1"} 3.0
lbapp_lb_request_duration_seconds_sum{backend="be1"} 0.01
# HELP lbapp_lb_config_version etcd mod_revision of the applied config.
# TYPE lbapp_lb_config_version gauge
lbapp_lb_config_version %d
"""


def test_metrics_of_every_worker_with_a_worker_label():
    body = merge_metrics([(0, WORKER_METRICS % (5, 7)), (1, WORKER_METRICS % (9, 6))], 3).decode()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    requests = families["lbapp_lb_requests"]
    assert requests.type == "counter"
    assert {(s.labels["worker"], s.value) for s in requests.samples} == {("0", 5.0), ("1", 9.0)}
    assert all(s.labels["backend"] == "be1" for s in requests.samples)
    hist = families["lbapp_lb_request_duration_seconds"]
    assert hist.type == "histogram" and len(hist.samples) == 8
    versions = {s.labels["worker"]: s.value for s in families["lbapp_lb_config_version"].samples}
    assert versions == {"0": 7.0, "1": 6.0}
    workers = {s.labels["state"]: s.value for s in families["lbapp_lb_workers"].samples}
    assert workers == {"configured": 3.0, "answering": 2.0}
    assert body.count("# TYPE lbapp_lb_requests_total counter") == 1
