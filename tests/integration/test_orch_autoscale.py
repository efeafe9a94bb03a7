"""Autoscaling end to end on 127.0.0.1: LB servers run by agents, a real Prometheus scraping
them, the orchestrator leader querying it and writing desired states, the agents acting.
Traffic through lb1 above the scale-up threshold brings the standby lb2 up; when it stops,
an LB is drained away again."""
from __future__ import annotations

import threading
import time

import pytest

from lbapp import keys
from tests.integration.harness import http_get, needs_daemons, wait_until
from tests.integration.orchharness import (BackendPool, Prometheus, agent_state, etcd_value,
                                           lb_child, lb_config, start_agent, start_orch)

pytestmark = needs_daemons

POLICY = {"min_active": 1, "max_active": 2, "scale_up_rps": 25, "scale_down_rps": 8,
          "scale_up_cpu": 8.0, "scale_down_cpu": 7.0, "cooldown_s": 2}


def load(port: int, stop: threading.Event, rate: float, results: list) -> None:
    """GET / at ``rate`` per second until ``stop``; records each status (0: failed)."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            results.append(http_get(port, "/", timeout=2)[0])
        except OSError:
            results.append(0)
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


def test_load_activates_the_standby_and_its_end_drains_one(lab):
    etcd = lab.etcd()
    pool = BackendPool(lab, 2)
    etcd.put_config(lb_config(pool.entries()))
    lbs = {node: lab.lb_settings(etcd, None, node) for node in ("lb1", "lb2")}
    prometheus = Prometheus(lab, {node: admin for node, (_, _, admin) in lbs.items()})
    agents = {node: start_agent(lab, node, [etcd.endpoint], initial,
                                [lb_child(lab, path, admin)])[1]
              for (node, (path, _, admin)), initial in zip(lbs.items(), ("active", "standby"))}
    wait_until(lambda: agent_state(agents["lb1"]).get("phase") == "active", 20, "lb1 active")
    orch = start_orch(lab, "orch1", [etcd.endpoint], lease_ttl_s=2, autoscale={
        "lb_id": "payment", "prometheus_url": prometheus.url, "interval_s": 1,
        "rate_window_s": 4, "policy": POLICY})

    def desired(node: str) -> str | None:
        return (etcd_value(etcd.endpoint, keys.desired_key(node)) or {}).get("state")

    stop, results = threading.Event(), []
    worker = threading.Thread(target=load, args=(lbs["lb1"][1], stop, 60, results))
    worker.start()
    try:
        wait_until(lambda: desired("lb2") == "active", 40, "the leader activating lb2")
        wait_until(lambda: agent_state(agents["lb2"]).get("phase") == "active", 20,
                   "lb2's agent running its LB")
        assert http_get(lbs["lb2"][1], "/")[0] == 200
        decision = etcd_value(etcd.endpoint, keys.desired_key("lb2"))
        assert "rps/node > 25" in decision["reason"] and decision["term"] >= 1
    finally:
        stop.set()
        worker.join(10)
    assert results and results.count(200) == len(results), "requests failed under load"
    wait_until(lambda: "standby" in (desired("lb1"), desired("lb2")), 40,
               "an LB drained once the load is gone")
    drained = "lb2" if desired("lb2") == "standby" else "lb1"
    wait_until(lambda: agent_state(agents[drained]).get("phase") == "standby", 20,
               f"{drained}'s agent stopping its LB")
    assert orch.metric("lbapp_orch_scale_decisions_total", action="activate", node="lb2") == 1
    assert orch.metric("lbapp_orch_scale_decisions_total", action="drain", node=drained) == 1
    wait_until(lambda: orch.metric("lbapp_orch_scale_input", input="active") == 1, 5,
               "the next decision seeing one active LB")
    scale = [e for e in orch.history_events() if e["ev"] == "scale"]
    assert [e["action"] for e in scale] == ["activate", "drain"]
    assert scale[0]["inputs"]["rps_per_node"] > 25
