import base64
import json
import logging

import pytest

from lbapp.etcd import TxnResult
from lbapp.lbserver.configsync import ConfigSync, EtcdView, parse_health, view_from_txn
from lbapp.lbserver.runtime import Runtime
from lbapp.lbserver.settings import parse_settings

SETTINGS = parse_settings({
    "name": "lb1", "lb_id": "payment", "listen": ["127.0.0.1:8000"],
    "admin_listen": "127.0.0.1:9100", "etcd_endpoints": ["http://127.0.0.1:2379"],
})
CONFIG = {"backend_servers": [{"name": "be1", "address": "127.0.0.1", "port": 8081},
                              {"name": "be2", "address": "127.0.0.1", "port": 8082}],
          "poll_frequency": 1000}


def view(config, revision, health=None):
    value = None if config is None else (config if isinstance(config, bytes)
                                         else json.dumps(config).encode())
    entries = {name: (json.dumps(v).encode() if not isinstance(v, bytes) else v, revision)
               for name, v in (health or {}).items()}
    return EtcdView(revision=revision, config_value=value, config_mod_revision=revision,
                    health=entries)


@pytest.fixture
def sync():
    return ConfigSync(SETTINGS, Runtime(SETTINGS))


def test_first_valid_config_is_applied(sync):
    assert sync.apply_view(view(CONFIG, 5), "initial") == "applied"
    snap = sync.rt.snapshot
    assert snap.version == 5 and sorted(snap.backends) == ["be1", "be2"]
    assert sync.stats.version == 5 and sync.stats.applied_at > 0
    assert sync.rt.ready()


def test_same_revision_is_unchanged(sync):
    sync.apply_view(view(CONFIG, 5), "initial")
    first = sync.rt.snapshot
    assert sync.apply_view(view(CONFIG, 5), "poll") == "unchanged"
    assert sync.rt.snapshot is first


def test_invalid_config_rejected_once_and_old_kept(sync, caplog):
    sync.apply_view(view(CONFIG, 5), "initial")
    with caplog.at_level(logging.ERROR):
        assert sync.apply_view(view({"backend_servers": []}, 6), "push") == "rejected"
    assert sync.rt.snapshot.version == 5
    assert sync.stats.rejected == 1
    assert "etcd:/lblab/lb/payment/config@6" in caplog.text
    assert "backend_servers" in caplog.text
    caplog.clear()
    assert sync.apply_view(view({"backend_servers": []}, 6), "poll") == "unchanged"
    assert sync.stats.rejected == 1 and not caplog.text


def test_invalid_json_rejected_before_any_config(sync):
    assert sync.apply_view(view(b"{not json", 3), "initial") == "rejected"
    assert sync.rt.snapshot is None and not sync.rt.ready()
    assert sync.apply_view(view(CONFIG, 4), "push") == "applied"


def test_missing_key(sync):
    assert sync.apply_view(view(None, 0), "initial") == "error"
    sync.apply_view(view(CONFIG, 5), "initial")
    assert sync.apply_view(view(None, 0), "poll") == "unchanged"
    assert sync.rt.snapshot.version == 5


def test_health_change_rebuilds_balancer(sync):
    sync.apply_view(view(CONFIG, 5), "initial")
    before = sync.rt.snapshot
    assert sync.apply_view(view(CONFIG, 5, {"be2": {"healthy": False}}), "push") == "applied"
    after = sync.rt.snapshot
    assert after is not before and after.unhealthy == {"be2"}
    # the pools carry over
    assert after.backends["be1"] is before.backends["be1"]
    picks = {after.balancer.pick(None, ()) for _ in range(10)}
    assert picks == {"be1"}


def test_all_unhealthy_means_not_ready(sync):
    sync.apply_view(view(CONFIG, 5, {"be1": {"healthy": False}, "be2": {"healthy": False}}),
                    "initial")
    assert not sync.rt.ready()
    assert "no usable backend" in sync.rt.not_ready_reason()


def test_parse_health_fails_open():
    warned = set()
    health = parse_health({"be1": (b'{"healthy": false, "checked_by": "orch2"}', 7),
                           "be2": (b"garbage", 8), "be3": (b'{"healthy": "no"}', 9)},
                          "/p/", warned)
    assert health == {"be1": False, "be2": True, "be3": True}
    assert warned == {("be2", 8), ("be3", 9)}


def test_view_from_txn():
    def b64(x):
        return base64.b64encode(x.encode()).decode()
    response = {
        "header": {"revision": "42"},
        "succeeded": True,
        "responses": [
            {"response_range": {"kvs": [{"key": b64("/lblab/lb/payment/config"),
                                         "value": b64('{"a": 1}'), "mod_revision": "40"}],
                                "count": "1"}},
            {"response_range": {"kvs": [{"key": b64("/lblab/lb/payment/health/be1"),
                                         "value": b64('{"healthy": true}'),
                                         "mod_revision": "41"}]}},
        ],
    }
    v = view_from_txn(TxnResult.decode(response), "/lblab/lb/payment/health/")
    assert v.revision == 42 and v.config_mod_revision == 40
    assert v.config_value == b'{"a": 1}'
    assert v.health == {"be1": (b'{"healthy": true}', 41)}
    empty = view_from_txn(TxnResult.decode({
        "header": {"revision": "3"},
        "responses": [{"response_range": {}}, {"response_range": {}}]}), "/x/")
    assert empty.config_value is None and empty.health == {}

