import json

import pytest

from lbapp import keys
from lbapp.lbserver.configsync import parse_health
from lbapp.orchestrator.values import (AgentInfo, DesiredState, HealthValue, Shard,
                                       dump_value, parse_value)

SHARD = {"term": 7, "leader": "orch1", "at": 1.0, "members": ["orch1", "orch2"],
         "targets": {"payment/be1": {"address": "10.1.0.11", "port": 8080, "path": "/health"}}}


def test_shard_round_trip_and_sameness():
    value = parse_value(Shard, json.dumps(SHARD), "k")
    assert parse_value(Shard, dump_value(value), "k") == value
    assert value.same_as(value.model_copy(update={"at": 2.0}))
    assert not value.same_as(value.model_copy(update={"term": 8}))


def test_health_value_is_what_the_lb_reads():
    value = HealthValue(healthy=False, term=7, reason="timeout", checker="orch2", at=1.0)
    raw = dump_value(value).encode()
    assert parse_health({"be1": (raw, 3)}, "test") == {"be1": False}


@pytest.mark.parametrize("model, raw, field", [
    (Shard, "{", "not valid JSON"),
    (Shard, "[1]", "must be a JSON object"),
    (Shard, "[" * 5000, "not valid JSON"),
    (Shard, json.dumps({**SHARD, "term": 0}), "term"),
    (Shard, json.dumps({**SHARD, "term": "7"}), "term"),
    (Shard, json.dumps({**SHARD, "evil": 1}), "evil"),
    (Shard, json.dumps({**SHARD, "targets": {"x": {"address": "a"}}}), "targets.x"),
    (HealthValue, json.dumps({"healthy": "yes", "term": 1, "reason": "", "checker": "",
                              "at": 0}), "healthy"),
    (DesiredState, json.dumps({"state": "on", "term": 1, "reason": "", "at": 0}), "state"),
    (DesiredState, '{"state": "active", "term": 1, "reason": "", "at": NaN}', "at"),
    (AgentInfo, json.dumps({"node": "lb1"}), "lb_id"),
])
def test_malformed_values_name_key_and_field(model, raw, field):
    with pytest.raises(ValueError) as err:
        parse_value(model, raw, "/lblab/some/key")
    assert str(err.value).startswith("/lblab/some/key: ") and field in str(err.value)


def test_keys():
    assert keys.lb_id_of_config_key("/lblab/lb/payment/config") == "payment"
    for other in ("/lblab/lb/payment/health/be1", "/lblab/lb//config", "/lblab/lb/a/b/config",
                  keys.shard_key("orch1")):
        assert keys.lb_id_of_config_key(other) is None
    assert keys.split_target(keys.target_name("payment", "be/1")) == ("payment", "be/1")
    assert keys.health_key("payment", "be1") == keys.health_prefix("payment") + "be1"
