import json
from types import SimpleNamespace

from lbapp import keys
from lbapp.etcd import KeyValue
from lbapp.orchestrator.leader import ConfigTracker, build_shards
from lbapp.orchestrator.scaler import pool


def kv(key: str, value, mod: int = 1) -> KeyValue:
    raw = value if isinstance(value, (str, bytes)) else json.dumps(value)
    raw = raw.encode() if isinstance(raw, str) else raw
    return KeyValue(key=key.encode(), value=raw, create_revision=1, mod_revision=mod)


CONFIG = {"backend_servers": ["10.1.0.11:8080", {"name": "be2", "address": "10.1.0.12",
                                                 "port": 8080}], "health_endpoint": "/hz"}


def test_shards_from_configs():
    configs = ConfigTracker().update({b"a": kv(keys.config_key("payment"), CONFIG)})
    shards = build_shards(configs, ["orch1", "orch2", "orch3"])
    assert set(shards) == {"orch1", "orch2", "orch3"}     # every member has one, maybe empty
    targets = {t: spec for shard in shards.values() for t, spec in shard.items()}
    assert sorted(targets) == ["payment/10.1.0.11:8080", "payment/be2"]
    assert sum(len(shard) for shard in shards.values()) == 2   # each target exactly once
    be2 = targets["payment/be2"]
    assert (be2.address, be2.port, be2.path) == ("10.1.0.12", 8080, "/hz")
    assert build_shards(configs, []) == {}   # nobody to assign to


def test_tracker_keeps_the_last_good_config_and_skips_bad_ones(caplog):
    tracker = ConfigTracker()
    key = keys.config_key("payment")
    good = tracker.update({b"k": kv(key, CONFIG, mod=1)})
    for bad in ('{"backend_servers": "nope"}', "[" * 100_000, b"\xff\xfe", "null"):
        assert tracker.update({b"k": kv(key, bad, mod=2)}) == good
    assert "skipped; keeping the last good config" in caplog.text
    # health keys and other LBs' keys beside it are ignored / tracked separately
    both = tracker.update({b"k": kv(key, CONFIG, mod=3),
                           b"h": kv(keys.health_key("payment", "be1"), {"healthy": True}),
                           b"o": kv(keys.config_key("other"), CONFIG)})
    assert sorted(both) == ["other", "payment"]
    assert tracker.update({b"o": kv(keys.config_key("other"), CONFIG)}).keys() == {"other"}


def test_bad_first_config_checks_nothing_for_that_lb(caplog):
    assert ConfigTracker().update({b"k": kv(keys.config_key("x"), "{")}) == {}
    assert "not checked until it is fixed" in caplog.text


def test_scaling_pool_from_agents_and_desired_states():
    def agent(node, lb_id="payment", desired="active"):
        return kv(keys.agent_key(node), {"node": node, "lb_id": lb_id, "phase": "active",
                                         "desired": desired, "children": {}, "at": 1.0})
    agents = SimpleNamespace(kvs={b"1": agent("lb1"), b"2": agent("lb2"),
                                  b"4": agent("lb4", desired="standby"),
                                  b"x": agent("lbx", lb_id="other"),
                                  b"bad": kv(keys.agent_key("lb9"), "{broken")})
    desired = SimpleNamespace(kvs={
        b"2": kv(keys.desired_key("lb2"), {"state": "standby", "term": 3, "reason": "",
                                           "at": 50.0}),
        b"bad": kv(keys.desired_key("lb1"), {"state": "on"})})
    none = SimpleNamespace(kvs={})
    active, standby, last = pool(agents, desired, none, "payment")
    assert (active, standby, last) == (["lb1"], ["lb2", "lb4"], 50.0)


def test_scaling_pool_keeps_unregistered_active_nodes_and_leaves_drained_ones_out():
    def agent(node, desired="active"):
        return kv(keys.agent_key(node), {"node": node, "lb_id": "payment", "phase": "active",
                                         "desired": desired, "children": {}, "at": 1.0})

    def want(node, state, lb_id="payment", at=10.0):
        return kv(keys.desired_key(node), {"state": state, "term": 0, "reason": "", "lb_id": lb_id,
                                           "at": at})
    agents = SimpleNamespace(kvs={b"1": agent("lb1"), b"2": agent("lb2"),
                                  b"4": agent("lb4", desired="standby")})
    desired = SimpleNamespace(kvs={
        b"3": want("lb3", "active", at=20.0),         # its agent is gone: still counted active
        b"5": want("lb5", "standby"),                 # standby without an agent: cannot start
        b"9": want("lb9", "active", lb_id="other"),   # another LB's node
        b"4": want("lb4", "standby", at=30.0)})
    drained = SimpleNamespace(kvs={b"d": kv(keys.drain_key("payment", "lb2"), '{"by": "ops"}'),
                                   b"o": kv(keys.drain_key("other", "lb1"), "{}")})
    active, standby, last = pool(agents, desired, drained, "payment")
    assert (active, standby, last) == (["lb1", "lb3"], ["lb4"], 30.0)
    # draining the standby leaves the pool without a node to activate
    drained.kvs[b"s"] = kv(keys.drain_key("payment", "lb4"), "{}")
    assert pool(agents, desired, drained, "payment")[:2] == (["lb1", "lb3"], [])
