from lbapp.config.schema import parse_config
from lbapp.lbserver.metrics import build_registry, render
from lbapp.lbserver.stats import LATENCY_BOUNDS, RequestStats
from lbapp.lbserver.runtime import Runtime
from lbapp.lbserver.settings import parse_settings

SETTINGS = parse_settings({
    "name": "lb1", "lb_id": "payment", "listen": ["127.0.0.1:8000"],
    "admin_listen": "127.0.0.1:9100", "etcd_endpoints": ["http://127.0.0.1:2379"],
})


def config(*backends, **extra):
    return parse_config({"backend_servers": [
        {"name": n, "address": "127.0.0.1", "port": p} for n, p in backends], **extra})


def test_changed_address_retires_the_old_pool():
    rt = Runtime(SETTINGS)
    rt.apply(config(("be1", 8081), ("be2", 8082)), 1, {}, 1)
    old = rt.snapshot.backends["be2"]
    rt.apply(config(("be1", 8081), ("be2", 9999)), 2, {}, 2)
    assert old.retired
    assert rt.snapshot.backends["be2"] is not old
    assert not rt.snapshot.backends["be1"].retired
    # counters are per name and survive the change
    assert rt.snapshot.backends["be2"].stats is old.stats


def test_outlier_ejection_excludes_then_readmits():
    rt = Runtime(SETTINGS)
    rt.apply(config(("be1", 8081), ("be2", 8082),
                    outlier_detection={"consecutive_failures": 2, "ejection_ms": 1000}), 1, {}, 1)
    be2 = rt.snapshot.backends["be2"]
    be2.record_failure("refused")
    assert rt.excluded == frozenset()
    be2.record_failure("refused")
    assert rt.excluded == {"be2"}
    assert be2.stats.ejections == 1 and be2.stats.connect_failures == {"refused": 2}
    rt.clock.now += 1.5
    rt.refresh_exclusions()
    assert rt.excluded == frozenset()


def test_hash_key_comes_from_config_only_when_the_balancer_needs_one(monkeypatch):
    import lbapp.lbserver.runtime as runtime_module

    class KeyedBalancer:
        needs_key = True

    monkeypatch.setattr(runtime_module, "make_balancer", lambda cfg, healthy: KeyedBalancer())
    rt = Runtime(SETTINGS)
    snap = rt.apply(config(("be1", 8081), hash={"key": "header:X-User"}), 1, {}, 1)
    assert (snap.key_kind, snap.key_header) == (3, b"x-user")
    assert rt.request_header_kinds[b"x-user"] == 8
    assert rt.request_header_exact[b"X-User"] == 8
    monkeypatch.setattr(runtime_module, "make_balancer",
                        lambda cfg, healthy: type("Plain", (), {"needs_key": False})())
    snap = rt.apply(config(("be1", 8081), hash={"key": "header:X-User"}), 2, {}, 2)
    assert snap.key_kind == 0 and b"x-user" not in rt.request_header_kinds


def test_request_stats_and_exposition():
    stats = RequestStats()
    stats.observe(200, 0.0004)
    stats.observe(200, 0.2)
    stats.observe(502, 100.0)
    assert stats.codes[200] == 2 and stats.codes[502] == 1
    assert stats.buckets[0] == 1 and stats.buckets[len(LATENCY_BOUNDS)] == 1
    rt = Runtime(SETTINGS)
    rt.apply(config(("be1", 8081)), 7, {}, 7)
    rt.request_stats["be1"].observe(200, 0.01)
    rt.config_stats.refreshed("push", "applied")
    text = render(build_registry(rt))[0].decode()
    assert 'lbapp_lb_requests_total{backend="be1",code="200"} 1.0' in text
    assert 'lbapp_lb_request_duration_seconds_bucket{backend="be1",le="+Inf"} 1.0' in text
    assert 'lbapp_lb_config_refreshes_total{result="applied",source="push"} 1.0' in text
    assert "lbapp_lb_ready 1.0" in text


class InFlightClient:
    """The fields of a client connection the runtime reads when it swaps balancers."""

    def __init__(self, rt, name):
        self.balancer, self.backend, self.in_attempt = rt.snapshot.balancer, rt.snapshot.backends[name], True
        self.balancer.on_start(name)


def test_in_flight_requests_count_on_the_new_balancer():
    rt = Runtime(SETTINGS)
    rt.apply(config(("be1", 8081), ("be2", 8082), algorithm="least_connections"), 1, {}, 1)
    clients = [InFlightClient(rt, "be1") for _ in range(3)]
    rt.clients.update(clients)
    rt.apply(config(("be1", 8081), ("be2", 8082), ("be3", 8083), algorithm="least_connections"),
             2, {}, 2)
    new = rt.snapshot.balancer
    assert new.in_flight() == {"be1": 3, "be2": 0, "be3": 0}
    assert [new.pick() for _ in range(4)].count("be1") == 0   # be1 is the busy one
    for client in clients:
        assert client.balancer is new
        client.balancer.on_finish("be1")
    assert new.in_flight()["be1"] == 0


def test_in_flight_requests_stop_counting_when_the_new_balancer_does_not_track_load():
    rt = Runtime(SETTINGS)
    rt.apply(config(("be1", 8081), ("be2", 8082), algorithm="power_of_two_choices"), 1, {}, 1)
    client = InFlightClient(rt, "be2")
    rt.clients.add(client)
    rt.apply(config(("be1", 8081), ("be2", 8082), algorithm="round_robin"), 2, {}, 2)
    assert not client.in_attempt
