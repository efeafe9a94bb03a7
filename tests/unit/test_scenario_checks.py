import pytest

from scenarios.checks import Context, RoutePoll, judge, judge_all, route_targets
from scenarios.history import History, merge
from scenarios.spec import parse_scenario

T0 = 1_700_000_000.0
BACKENDS = ["be1", "be2", "be3"]
LBS = ["lb1", "lb2", "lb3"]


def op(t, outcome="ok", client="client1", lb=None, backend=None, latency=0.002, kind="http"):
    rec = {"type": kind, "client": client, "t_send": T0 + t, "outcome": outcome, "latency": latency}
    if lb:
        rec["lb"] = lb
    if backend:
        rec["backend"] = backend
    return rec


def healthy(duration=10.0, rate=30, client="client1"):
    """rate req/s spread round robin over 3 LBs and 3 backends."""
    n = int(duration * rate)
    return [op(i / rate, lb=LBS[i % 3], backend=BACKENDS[(i // 3) % 3], client=client) for i in range(n)]


def dns_ops(duration=10.0, rate=5, fail=()):
    return [op(i / rate, "timeout" if lo_hi(i / rate, fail) else "ok", kind="dns") for i in range(int(duration * rate))]


def lo_hi(t, spans):
    return any(lo <= t < hi for lo, hi in spans)


def ctx_for(http=(), dns=(), polls=None, end=None, meta=None):
    h = merge([History(http=list(http), dns=list(dns), end=list(end or []), meta=list(meta or []))])
    return Context(history=h, t0=T0, duration=10.0, gap=0.25, backends=BACKENDS, lbs=LBS,
                   route_polls=polls or {})


def check(spec: dict, traffic=("http", "dns")):
    doc = {"name": "t", "topology": "reference", "duration": "10s",
           "traffic": [{"kind": k, "clients": ["client1", "client2"], "rate": 10,
                        **({"url": "http://x/"} if k == "http" else {"name": "x"})} for k in traffic],
           "checks": [spec]}
    return parse_scenario(doc).checks[0]


def with_outage(ops, lo, hi, outcome="timeout", every=1):
    out = []
    for i, r in enumerate(ops):
        if lo <= r["t_send"] - T0 < hi and i % every == 0:
            r = {**r, "outcome": outcome}
            r.pop("lb", None)
            r.pop("backend", None)
        out.append(r)
    return out


def assert_result(res, passed):
    d = res.to_dict()
    assert set(d) >= {"name", "passed", "measured", "limit", "detail"}
    assert res.passed is passed, d


# ------------------------------------------------------------------------ failed / rate

def test_failed_requests_pass_and_fail():
    c = check({"failed_requests": {"max": 0}})
    assert_result(judge(c, ctx_for(healthy())), True)
    res = judge(c, ctx_for(with_outage(healthy(), 3, 3.2)))
    assert_result(res, False)
    assert res.measured == 6 and res.limit == 0
    assert "timeout 6" in res.detail and "+3s" in res.detail


def test_failed_requests_window_and_client():
    ops = with_outage(healthy(), 3, 3.2) + healthy(client="client2")
    assert_result(judge(check({"failed_requests": {"max": 0, "before": "3s"}}), ctx_for(ops)), True)
    assert_result(judge(check({"failed_requests": {"max": 0, "client": "client2"}}), ctx_for(ops)), True)
    assert_result(judge(check({"failed_requests": {"max": 5, "client": "client1"}}), ctx_for(ops)), False)


def test_check_without_operations_fails():
    res = judge(check({"failed_requests": {"max": 0}}), ctx_for([]))
    assert_result(res, False)
    assert "no operations" in res.detail


def test_success_rate():
    ops = with_outage(healthy(), 3, 3.5)   # 15 of 300 fail
    assert_result(judge(check({"success_rate": {"min": "95%"}}), ctx_for(ops)), True)
    res = judge(check({"success_rate": {"min": 0.99}}), ctx_for(ops))
    assert_result(res, False)
    assert res.measured == pytest.approx(0.95)


def test_success_rate_per_client_uses_worst_client():
    ops = with_outage(healthy(), 3, 4) + healthy(client="client2")
    assert_result(judge(check({"success_rate": {"min": 0.95}}), ctx_for(ops)), True)      # 570/600
    res = judge(check({"success_rate": {"min": 0.95, "per_client": True}}), ctx_for(ops))  # client1 270/300
    assert_result(res, False)
    assert res.measured == pytest.approx(0.9) and res.detail.startswith("lowest: client1")


def test_success_rate_with_a_max_demands_that_a_cost_shows():
    ops = with_outage(healthy(), 3, 9, every=3)           # a third of the requests in 3-9 s fail
    c = check({"success_rate": {"min": "55%", "max": "78%", "after": "3s", "before": "9s"}})
    res = judge(c, ctx_for(ops))
    assert_result(res, True)
    assert res.measured == pytest.approx(2 / 3, abs=0.01) and res.limit == "55.00%–78.00%"
    assert_result(judge(c, ctx_for(healthy())), False)    # no cost at all: the claim is wrong
    assert_result(judge(check({"success_rate": {"max": "78%"}}), ctx_for(healthy())), False)
    assert_result(judge(c, ctx_for(with_outage(healthy(), 3, 9))), False)   # everything failing


@pytest.mark.parametrize("spec, message", [
    ({"success_rate": {}}, "give min, max or both"),
    ({"success_rate": {"min": "90%", "max": "80%"}}, "min must not be above max"),
    ({"longest_disruption": {"min": "2s", "max": "1s"}}, "min must not be above max"),
])
def test_bounds_must_make_sense(spec, message):
    with pytest.raises(Exception, match=message):
        check(spec)


# --------------------------------------------------------------------------- disruption

def test_longest_disruption_with_a_min_demands_an_outage_that_long():
    ops = with_outage(healthy(), 3, 8, every=3)
    res = judge(check({"longest_disruption": {"min": "4s", "max": "9s"}}), ctx_for(ops))
    assert_result(res, True)
    assert res.limit == "4s–9s"
    assert_result(judge(check({"longest_disruption": {"min": "4s"}}), ctx_for(with_outage(healthy(), 3, 4))), False)

def test_longest_disruption():
    ops = with_outage(healthy(), 3, 3.3, every=3)
    res = judge(check({"longest_disruption": {"max": "500ms"}}), ctx_for(ops))
    assert_result(res, True)
    assert 0.2 <= res.measured <= 0.3 + 1e-9
    res = judge(check({"longest_disruption": {"max": "100ms"}}), ctx_for(ops))
    assert_result(res, False)
    assert "longest +3s" in res.detail


def test_longest_disruption_zero_allowed_means_no_failures():
    assert_result(judge(check({"longest_disruption": {"max": "0s"}}), ctx_for(healthy())), True)
    # an isolated failure is a window of length 0: passes max 0s, which is why failed_requests exists
    ops = with_outage(healthy(), 3, 3.01)
    assert_result(judge(check({"longest_disruption": {"max": "0s"}}), ctx_for(ops)), True)
    assert_result(judge(check({"failed_requests": {"max": 0}}), ctx_for(ops)), False)


def test_longest_disruption_dns_traffic():
    c = check({"longest_disruption": {"max": "300ms", "traffic": "dns"}})
    assert_result(judge(c, ctx_for(healthy(), dns_ops(fail=[(2, 2.2)]))), True)
    assert_result(judge(c, ctx_for(healthy(), dns_ops(fail=[(2, 2.8)]))), False)


def test_dns_answer_leaves_measures_when_an_address_left_the_answers():
    def answered(t, answers):
        return {**op(t, kind="dns"), "answers": answers}
    ops = [answered(i / 5, ["10.0.1.1", "10.0.1.2"] if i / 5 < 5.2 else ["10.0.1.1"]) for i in range(50)]
    res = judge(check({"dns_answer_leaves": {"address": "10.0.1.2", "after": "3s", "within": "3s"}}), ctx_for(dns=ops))
    assert_result(res, True)
    assert res.measured == pytest.approx(2.2) and "gone from +5.2s" in res.detail
    res = judge(check({"dns_answer_leaves": {"address": "10.0.1.2", "after": "3s", "within": "2s"}}), ctx_for(dns=ops))
    assert_result(res, False)
    back = ops + [answered(10.5, ["10.0.1.2"])]           # still (again) in the last answer
    res = judge(check({"dns_answer_leaves": {"address": "10.0.1.2", "after": "3s", "within": "3s"}}), ctx_for(dns=back))
    assert_result(res, False)
    assert "still in the last" in res.detail
    assert_result(judge(check({"dns_answer_leaves": {"address": "10.0.1.2", "within": "1s"}}), ctx_for()), False)


def test_served_checks_can_look_at_one_client():
    ops = healthy() + [op(i / 10, lb="lb4", client="client2") for i in range(50)]
    c = check({"served_by_excludes": {"lb": "lb4", "client": "client1"}})
    assert_result(judge(c, ctx_for(ops)), True)
    assert_result(judge(check({"served_by_excludes": {"lb": "lb4"}}), ctx_for(ops)), False)
    assert_result(judge(check({"served_by_includes": {"lb": "lb4", "client": "client2"}}), ctx_for(ops)), True)
    assert_result(judge(check({"all_lbs_served": {"expected": ["lb4"], "client": "client1"}}), ctx_for(ops)), False)


def test_disruptions_count():
    ops = with_outage(with_outage(healthy(), 2, 2.1), 6, 6.1)
    assert_result(judge(check({"disruptions": {"max": 2}}), ctx_for(ops)), True)
    res = judge(check({"disruptions": {"max": 1}}), ctx_for(ops))
    assert_result(res, False)
    assert res.measured == 2


def test_dns_failures_counts_dns_stream_and_http_lookups():
    c = check({"dns_failures": {"max": 0}})
    assert_result(judge(c, ctx_for(healthy(), dns_ops())), True)
    res = judge(c, ctx_for(with_outage(healthy(), 5.01, 5.11, outcome="dns_fail"), dns_ops(fail=[(4.9, 5.3)])))
    assert_result(res, False)
    assert res.measured == 3 + 2
    assert "2 of 50 DNS queries, 3 of 300 HTTP lookups" in res.detail
    # other HTTP failures are not DNS failures
    assert_result(judge(c, ctx_for(with_outage(healthy(), 5, 5.1), dns_ops())), True)


# ----------------------------------------------------------------------------- serving

def test_all_backends_served():
    c = check({"all_backends_served": {}})
    assert_result(judge(c, ctx_for(healthy())), True)
    only_two = [r for r in healthy() if r["backend"] != "be3"]
    res = judge(c, ctx_for(only_two))
    assert_result(res, False)
    assert "be3" in res.detail and res.measured["be3"] == 0


def test_all_lbs_served_explicit_list_and_min():
    ops = healthy()
    assert_result(judge(check({"all_lbs_served": {"expected": ["lb1", "lb2"]}}), ctx_for(ops)), True)
    assert_result(judge(check({"all_lbs_served": {"expected": ["lb1", "lb4"]}}), ctx_for(ops)), False)
    assert_result(judge(check({"all_lbs_served": {"min": 101}}), ctx_for(ops)), False)


def test_all_served_without_expected_list_fails():
    ctx = ctx_for(healthy())
    ctx.backends = []
    res = judge(check({"all_backends_served": {}}), ctx)
    assert_result(res, False)
    assert "expected" in res.detail


def test_served_by_excludes_and_includes():
    ops = [r for r in healthy() if not (r["lb"] == "lb2" and r["t_send"] - T0 >= 4)]
    assert_result(judge(check({"served_by_excludes": {"lb": "lb2", "after": "4s"}}), ctx_for(ops)), True)
    res = judge(check({"served_by_excludes": {"lb": "lb2", "after": "3s"}}), ctx_for(ops))
    assert_result(res, False)
    assert res.measured == 10
    assert_result(judge(check({"served_by_includes": {"lb": "lb2", "after": "3s"}}), ctx_for(ops)), True)
    assert_result(judge(check({"served_by_includes": {"lb": "lb2", "after": "4s"}}), ctx_for(ops)), False)
    assert_result(judge(check({"served_by_includes": {"backend": "be1", "min": 101}}), ctx_for(ops)), False)


def test_backend_split_within_tolerance():
    ops = healthy()      # 1/3 each
    assert_result(judge(check({"backend_split": {"weights": {"be1": 1, "be2": 1, "be3": 1}}}), ctx_for(ops)), True)
    res = judge(check({"backend_split": {"weights": {"be1": 2, "be2": 1, "be3": 1}, "tolerance": "5%"}}), ctx_for(ops))
    assert_result(res, False)
    assert res.measured == pytest.approx(0.5 - 1 / 3, abs=0.01)
    assert res.detail.startswith("worst be1")


def test_backend_split_counts_unexpected_backends_and_filters_by_lb():
    ops = healthy() + [op(5, lb="lb1", backend="be9")] * 60
    res = judge(check({"backend_split": {"weights": {"be1": 1, "be2": 1, "be3": 1}, "tolerance": 0.1}}), ctx_for(ops))
    assert_result(res, False)       # be9 took 1/6 with weight 0
    ops = [r for r in healthy() if r["lb"] == "lb1"]
    assert_result(judge(check({"backend_split": {"weights": {"be1": 1, "be2": 1, "be3": 1}, "lb": "lb1"}}),
                        ctx_for(ops)), True)


def test_lb_split():
    assert_result(judge(check({"lb_split": {"weights": {"lb1": 1, "lb2": 1, "lb3": 1}}}), ctx_for(healthy())), True)
    assert_result(judge(check({"lb_split": {"weights": {"lb1": 1, "lb2": 1}}}), ctx_for(healthy())), False)


def test_latency():
    ops = healthy()
    ops[5] = {**ops[5], "latency": 0.5}
    assert_result(judge(check({"latency": {"percentile": 99, "max": "10ms"}}), ctx_for(ops)), True)
    res = judge(check({"latency": {"percentile": 100, "max": "10ms"}}), ctx_for(ops))
    assert_result(res, False)
    assert res.measured == 0.5


# ---------------------------------------------------------------------------- routes

def polls(*spec):
    """spec: (t, count) or (t, None) for a failed poll"""
    return {("r1", "10.0.0.100/32"): [
        RoutePoll(t, None if n is None else [f"10.2.0.{i}" for i in range(1, n + 1)], None if n is not None else "boom")
        for t, n in spec]}


def test_route_nexthops_within():
    c = check({"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 2, "after": "3s", "within": "1s"}})
    p = polls(*[(2.5 + i * 0.05, 3 if 2.5 + i * 0.05 < 3.31 else 2) for i in range(40)])
    res = judge(c, ctx_for(healthy(), polls=p))
    assert_result(res, True)
    assert res.measured == pytest.approx(0.35, abs=0.01)
    slow = polls(*[(2.5 + i * 0.05, 3 if 2.5 + i * 0.05 < 4.5 else 2) for i in range(60)])
    res = judge(c, ctx_for(healthy(), polls=slow))
    assert_result(res, False)
    assert "never 2 nexthops within 1s" in res.detail and "last poll: 3 nexthops" in res.detail


def test_route_nexthops_throughout():
    c = check({"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 3, "before": "3s"}})
    assert_result(judge(c, ctx_for(healthy(), polls=polls(*[(i * 0.1, 3) for i in range(30)]))), True)
    res = judge(c, ctx_for(healthy(), polls=polls(*[(i * 0.1, 2 if i == 17 else 3) for i in range(30)])))
    assert_result(res, False)
    assert "1 of 30 polls differ; first at +1.7s: 2 nexthops" in res.detail
    res = judge(c, ctx_for(healthy(), polls=polls((0.5, None), (1.0, 3))))
    assert_result(res, False)
    assert "poll error: boom" in res.detail


def test_route_nexthops_without_polls_fails():
    c = check({"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 3}})
    res = judge(c, ctx_for(healthy()))
    assert_result(res, False)
    assert "no route polls" in res.detail


def test_route_targets_windows():
    s = parse_scenario({"name": "t", "topology": "x", "duration": "10s",
                        "traffic": [{"kind": "dns", "clients": ["c"], "name": "x", "rate": 1}],
                        "checks": [{"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 3, "before": "3s"}},
                                   {"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 2,
                                                       "after": "3s", "within": "1s"}},
                                   {"route_nexthops": {"router": "r2", "prefix": "10.0.0.0/24", "count": 1, "after": "5s"}}]})
    assert route_targets(s) == {("r1", "10.0.0.100/32"): [(0.0, 3.0), (3.0, 4.0)], ("r2", "10.0.0.0/24"): [(5.0, 10.0)]}


# ------------------------------------------------------------------------ generator

def test_traffic_sent():
    c = check({"traffic_sent": {"min_fraction": "95%"}})
    end = [{"type": "end", "client": "client1", "streams": [{"scheduled": 100, "sent": 97, "missed": 3}]}]
    assert_result(judge(c, ctx_for(healthy(), end=end)), True)
    end = [{"type": "end", "client": "client1", "streams": [{"scheduled": 100, "sent": 80, "missed": 20}]}]
    res = judge(c, ctx_for(healthy(), end=end))
    assert_result(res, False)
    assert res.measured == 0.8
    assert_result(judge(c, ctx_for(healthy())), False)     # no generator records at all


def test_judge_all_keeps_order_and_indices():
    s = parse_scenario({"name": "t", "topology": "x", "duration": "10s",
                        "traffic": [{"kind": "http", "clients": ["client1"], "url": "http://x/", "rate": 1}],
                        "checks": [{"failed_requests": {"max": 0}}, {"success_rate": {"min": 1}}]})
    results = judge_all(s, ctx_for(healthy()))
    assert [(r.index, r.name, r.passed) for r in results] == [(0, "failed_requests", True), (1, "success_rate", True)]
    assert results[0].scope == "http"


# ------------------------------------------------------------------------ config propagation


def config_fault(applied, status="applied", at=3.0):
    return {"index": 0, "at": at, "action": "config", "status": status,
            "record": {"revision": 7, "applied": applied}}


def test_config_propagation_within_limit():
    ctx = ctx_for(http=healthy())
    ctx.faults = [config_fault({"lb1": 0.004, "lb2": 0.011, "lb3": 0.006})]
    res = judge(check({"config_propagation": {"max": "50ms"}}), ctx)
    assert_result(res, True)
    assert "lb2" in res.detail


def test_config_propagation_slowest_lb_counts():
    ctx = ctx_for(http=healthy())
    ctx.faults = [config_fault({"lb1": 0.004, "lb2": 2.1})]
    assert_result(judge(check({"config_propagation": {"max": "50ms"}}), ctx), False)


def test_config_propagation_without_measurement_fails():
    ctx = ctx_for(http=healthy())
    assert_result(judge(check({"config_propagation": {"max": "1s"}}), ctx), False)
    ctx.faults = [config_fault({}, status="failed")]
    assert_result(judge(check({"config_propagation": {"max": "1s"}}), ctx), False)
