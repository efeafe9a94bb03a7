"""Active health checks end to end: backend knobs -> orchestrator member -> etcd (+ Redis) ->
the LB server drops or restores the backend. Lab timings: every 200 ms, timeout 150 ms,
rise 2, fall 2."""
from __future__ import annotations

import signal
import time

import pytest

from lbapp import keys
from tests.integration.harness import needs_daemons, wait_until
from tests.integration.orchharness import (LAB_CHECKS, BackendPool, etcd_put, health_of,
                                           lb_config, start_orch, timed)

pytestmark = needs_daemons

INTERVAL, TIMEOUT = LAB_CHECKS["interval_ms"] / 1000, LAB_CHECKS["timeout_ms"] / 1000
RISE, FALL = LAB_CHECKS["rise"], LAB_CHECKS["fall"]
SLACK = 1.0   # shared 2-core machine: scheduling and process wake-ups


@pytest.fixture
def setup(lab):
    etcd, redis = lab.etcd(), lab.redis()
    sick = lab.backend("sick", control=True)
    pool = BackendPool(lab, 2)
    etcd.put_config(lb_config([sick, *pool.entries()]))
    lb = lab.lb(etcd, redis)
    orch = start_orch(lab, "orch1", [etcd.endpoint], redis)
    wait_until(lambda: orch.metric("lbapp_orch_checks_total", target="payment/sick",
                                   result="ok") >= 3, 10, "the sick backend checked")
    return etcd, lb, orch, sick


def lb_sees(lb, backend: str) -> bool:
    return next(b["healthy"] for b in lb.status()["backends"] if b["name"] == backend)


def test_hung_backend_leaves_rotation_and_returns(setup):
    etcd, lb, orch, sick = setup
    sick.knobs("PATCH", {"health": {"hang": True}})
    started = time.monotonic()
    in_etcd = timed(lambda: (health_of(etcd.endpoint, "sick") or {}).get("healthy") is False,
                    10, "sick marked unhealthy in etcd")
    at_lb = timed(lambda: not lb_sees(lb, "sick"), 10, "the LB dropping sick") + in_etcd
    bound = FALL * INTERVAL + TIMEOUT
    print(f"hung backend: unhealthy in etcd after {in_etcd:.3f} s, out of the LB after "
          f"{at_lb:.3f} s (fall x interval + timeout = {bound:.2f} s)")
    assert time.monotonic() - started >= at_lb
    assert in_etcd <= bound + SLACK
    value = health_of(etcd.endpoint, "sick")
    assert value["reason"] == "timeout" and value["checker"] == "orch1" and value["term"] >= 1
    # the LB still serves, from the others
    assert all(lb.get("/")[0] == 200 for _ in range(10))
    sick.knobs("DELETE")
    back = timed(lambda: lb_sees(lb, "sick"), 10, "the LB restoring sick")
    print(f"restored at the LB {back:.3f} s after the backend answered again "
          f"(rise x interval = {RISE * INTERVAL:.2f} s)")
    assert back <= RISE * INTERVAL + INTERVAL + SLACK
    assert health_of(etcd.endpoint, "sick")["reason"] == "200"
    assert orch.metric("lbapp_orch_checks_total", target="payment/sick", result="timeout") >= FALL
    assert orch.metric("lbapp_orch_publishes_total", result="ok") >= 2


def test_sick_503_reason_and_flapping_held(setup):
    etcd, lb, orch, sick = setup
    sick.knobs("PATCH", {"health": {"fail_every": 2}})   # every other check fails
    failed_before = orch.metric("lbapp_orch_checks_total", target="payment/sick",
                                result="status 503")
    time.sleep(12 * INTERVAL)
    assert orch.metric("lbapp_orch_checks_total", target="payment/sick",
                       result="status 503") >= failed_before + 3
    assert health_of(etcd.endpoint, "sick") is None       # never written: rise/fall held it
    assert lb_sees(lb, "sick")
    sick.knobs("PATCH", {"health": {"fail_every": 0, "status": 503}})
    wait_until(lambda: not lb_sees(lb, "sick"), 5, "sick out after consistent 503s")
    assert health_of(etcd.endpoint, "sick")["reason"] == "status 503"
    assert lb.get("/")[0] == 200


def test_malformed_values_are_skipped(setup, lab):
    etcd, lb, orch, sick = setup
    # a malformed shard: the member logs it and keeps checking; the leader writes it again
    etcd_put(etcd.endpoint, keys.shard_key("orch1"), '{"term": "not a number"}')
    before = orch.metric("lbapp_orch_checks_total", target="payment/sick", result="ok")
    wait_until(lambda: orch.metric("lbapp_orch_checks_total", target="payment/sick",
                                   result="ok") >= before + 3, 5, "checks going on")
    assert "invalid Shard" in orch.proc.output()
    wait_until(lambda: "writing it again" in orch.proc.output(), 5, "the leader repairing it")
    # a malformed LB config: the leader keeps the last good one (and rewrites the assignment
    # when anything else changes)
    etcd.put_config('{"backend_servers": "nope"}')
    wait_until(lambda: "invalid load balancer config" in orch.proc.output(), 5,
               "the bad config logged")
    # a malformed health value of a target: a new owner treats it as healthy (logged)
    etcd_put(etcd.endpoint, keys.health_key("payment", "be1"), "{not json")
    assert orch.proc.alive()
    sick.knobs("PATCH", {"health": {"status": 503}})
    wait_until(lambda: (health_of(etcd.endpoint, "sick") or {}).get("healthy") is False, 5,
               "health still written after the bad values")


def test_redis_down_health_still_reaches_the_lb_by_polling(setup, lab):
    etcd, lb, orch, sick = setup
    redis_proc = next(p for p in lab.procs if p.name.startswith("redis-"))
    redis_proc.kill()
    sick.knobs("PATCH", {"health": {"status": 503}})
    wait_until(lambda: (health_of(etcd.endpoint, "sick") or {}).get("healthy") is False, 5,
               "written to etcd with Redis down")
    wait_until(lambda: orch.metric("lbapp_orch_publishes_total", result="error") >= 1, 5,
               "the failed publish counted")
    wait_until(lambda: not lb_sees(lb, "sick"), 5, "the LB dropping sick at its next poll")


def test_etcd_down_members_keep_state_and_resume(setup):
    etcd, lb, orch, sick = setup
    sick.knobs("PATCH", {"health": {"status": 503}})
    wait_until(lambda: (health_of(etcd.endpoint, "sick") or {}).get("healthy") is False, 5,
               "sick marked unhealthy")
    wait_until(lambda: not lb_sees(lb, "sick"), 5, "the LB dropping sick")
    etcd.proc.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: orch.status()["lease"]["remaining_s"] == 0, 10, "the member's lease "
                   "window closing with etcd away")
        assert orch.proc.alive() and not lb_sees(lb, "sick")   # the LB keeps its last state
        sick.knobs("DELETE")   # changes while etcd is away are picked up once it is back
    finally:
        etcd.proc.signal(signal.SIGCONT)
    wait_until(lambda: orch.is_leader() and orch.status()["targets"], 15, "leading again")
    wait_until(lambda: (health_of(etcd.endpoint, "sick") or {}).get("healthy") is True, 10,
               "sick healthy again after etcd returned")
    wait_until(lambda: lb_sees(lb, "sick"), 5, "the LB restoring sick")
