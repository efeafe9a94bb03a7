from lbapp.config.schema import parse_config
from lbapp.lbserver.metrics import LATENCY_BOUNDS, RequestStats, build_registry, render
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
