"""Config served from memory and kept in sync: a write through the console -> every LB serving it,
measured from each LB's own applied-at time to the console's commit (all namespaces share one
clock). Push (Redis) and pull (etcd poll); an invalid config written past the console is refused
by every LB server."""
from __future__ import annotations

import json
import statistics
import time

from lbapp.keys import config_channel, config_key
from lblab.daemons.redis import PORT as REDIS_PORT
from lblab.lab.consoleapi import ConsoleApi
from lblab.lab.propagation import lb_status, running_lbs, wait_applied
from tests.e2e.conftest import RESULTS

LB_ID = "payment"


def write_and_measure(lab, changes: dict, timeout: float) -> dict[str, float]:
    written = ConsoleApi(lab).edit(LB_ID, "set", changes)
    return wait_applied(lab, running_lbs(lab), written["version"], written["committed_at"], timeout)


def write_past_the_console(lab, text: str) -> int:
    """Put text as the config with etcdctl and publish "changed" with redis-cli, as a buggy
    writer would; returns the etcd revision."""
    result = lab.etcdctl("put", config_key(LB_ID), text, "-w", "json")
    redis = lab.node_names("redis")[0]
    lab.run(redis, ["redis-cli", "-h", str(lab.topo.control_address(redis)), "-p", str(REDIS_PORT),
                    "publish", config_channel(LB_ID), "changed"], timeout=5)
    return int(json.loads(result.stdout)["header"]["revision"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def save(name: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")


def test_push_reaches_every_lb_fast(healthy_lab):
    lab = healthy_lab
    api = ConsoleApi(lab)
    original = api.lb(LB_ID)["config"]
    every_lb = []
    try:
        for i in range(40):
            latencies = write_and_measure(lab, {"timeouts": {"connect_ms": 1000 + i % 2}}, timeout=10)
            every_lb.append(max(latencies.values()))
    finally:
        api.edit(LB_ID, "replace", original)
    p50, p99 = percentile(every_lb, 0.5), percentile(every_lb, 0.99)
    save("config-push-latency", {"writes": len(every_lb), "p50_s": p50, "p99_s": p99, "max_s": max(every_lb),
                                 "mean_s": statistics.mean(every_lb), "samples_s": every_lb})
    print(f"config write -> every LB serving it, Redis up: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    # target p99 <= 50 ms; checked with 2x margin for a noisy 2-core box
    assert p99 <= 0.100, every_lb


def test_poll_applies_config_when_redis_is_down(healthy_lab):
    lab = healthy_lab
    config = ConsoleApi(lab).lb(LB_ID)["config"]
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
    api = ConsoleApi(lab)
    good = api.lb(LB_ID)["config"]
    lbs = running_lbs(lab)
    before = {lb: lb_status(lab, lb) for lb in lbs}
    try:
        for bad in ('{"backend_servers": [], "algorithm": "fastest"}', "{not json"):
            revision = write_past_the_console(lab, bad)
            # every LB must have seen and rejected it: its rejected count goes up
            for lb in lbs:
                deadline = time.monotonic() + 5
                status = lb_status(lab, lb)
                while status["config_rejected"] <= before[lb]["config_rejected"] and time.monotonic() < deadline:
                    time.sleep(0.01)
                    status = lb_status(lab, lb)
                assert status["config_rejected"] > before[lb]["config_rejected"], \
                    f"{lb} did not reject config revision {revision}: {status}"
                assert status["config"]["version"] == before[lb]["config"]["version"]
                assert status["ready"] is True
                before[lb] = status
            result = lab.run("client1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
                                         "http://lb.payment.example/"], timeout=5)
            assert result.stdout == "200"
    finally:
        api.edit(LB_ID, "replace", good)
