"""Config served from memory and kept in sync: write -> every LB serving it, measured from each
LB's own applied-at time (all namespaces share one clock). Push (Redis) and pull (etcd poll)."""
from __future__ import annotations

import json
import statistics
import time

from tests.e2e.conftest import RESULTS
from lblab.lab import configdb

LB_ID = "payment"


def running_lbs(lab) -> list[str]:
    return [n for n in lab.node_names("lb") if lab.daemon_state(lab.daemon(n, "lbserver")) == "running"]


def write_and_measure(lab, changes: dict, timeout: float) -> dict[str, float]:
    written = configdb.change_config(lab, LB_ID, changes)
    return configdb.wait_applied(lab, running_lbs(lab), written["revision"], written["written_at"], timeout)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def save(name: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")


def test_push_reaches_every_lb_fast(healthy_lab):
    lab = healthy_lab
    original, _ = configdb.get_config(lab, LB_ID)
    every_lb = []
    try:
        for i in range(40):
            latencies = write_and_measure(lab, {"timeouts": {"connect_ms": 1000 + i % 2}}, timeout=10)
            every_lb.append(max(latencies.values()))
    finally:
        configdb.put_config(lab, LB_ID, original)
        configdb.publish_changed(lab, LB_ID)
    p50, p99 = percentile(every_lb, 0.5), percentile(every_lb, 0.99)
    save("config-push-latency", {"writes": len(every_lb), "p50_s": p50, "p99_s": p99, "max_s": max(every_lb),
                                 "mean_s": statistics.mean(every_lb), "samples_s": every_lb})
    print(f"config write -> every LB serving it, Redis up: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    # target p99 <= 50 ms; checked with 2x margin for a noisy 2-core box
    assert p99 <= 0.100, every_lb


def test_poll_applies_config_when_redis_is_down(healthy_lab):
    lab = healthy_lab
    config, _ = configdb.get_config(lab, LB_ID)
    poll_s = config["poll_frequency"] / 1000
    lab.fault("kill", node="redis", daemon="redis")
    every_lb = []
    for i in range(4):
        latencies = write_and_measure(lab, {"timeouts": {"connect_ms": 1200 + i}}, timeout=poll_s * 3)
        every_lb.append(max(latencies.values()))
    save("config-poll-latency", {"poll_frequency_s": poll_s, "jitter": 0.15, "samples_s": every_lb})
    print(f"config write -> every LB, Redis down (poll {poll_s}s): {[round(v, 3) for v in every_lb]}")
    # one poll period plus its +15% jitter, plus margin for the etcd read and a busy box
    assert max(every_lb) <= poll_s * 1.15 + 0.5, every_lb


def test_invalid_config_is_rejected_and_last_good_kept(healthy_lab):
    lab = healthy_lab
    good, good_revision = configdb.get_config(lab, LB_ID)
    lbs = running_lbs(lab)
    before = {lb: configdb.lb_status(lab, lb) for lb in lbs}
    try:
        for bad in ('{"backend_servers": [], "algorithm": "fastest"}', "{not json"):
            revision, _ = configdb.put_raw(lab, LB_ID, bad)
            configdb.publish_changed(lab, LB_ID)
            # every LB must have seen and rejected it: its rejected count goes up
            for lb in lbs:
                deadline = time.monotonic() + 5
                status = configdb.lb_status(lab, lb)
                while status["config_rejected"] <= before[lb]["config_rejected"] and time.monotonic() < deadline:
                    time.sleep(0.01)
                    status = configdb.lb_status(lab, lb)
                assert status["config_rejected"] > before[lb]["config_rejected"], \
                    f"{lb} did not reject config revision {revision}: {status}"
                assert status["config"]["version"] == before[lb]["config"]["version"]
                assert status["ready"] is True
                before[lb] = status
            result = lab.run("client1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
                                         "http://lb.payment.example/"], timeout=5)
            assert result.stdout == "200"
    finally:
        configdb.put_config(lab, LB_ID, good)
        configdb.publish_changed(lab, LB_ID)
