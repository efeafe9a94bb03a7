import json

import pytest

from lbapp import keys
from lbapp.lbserver.configsync import parse_health
from lbapp.orchestrator.values import (AgentInfo, Assignment, DesiredState, HealthValue,
                                       dump_value, parse_value)

ASSIGNMENT = {"term": 7, "leader": "orch1", "at": 1.0, "members": ["orch1", "orch2"],
              "targets": {"payment/be1": {"member": "orch2", "address": "10.1.0.11",
                                          "port": 8080, "path": "/health"}}}


def test_assignment_round_trip_and_shard():
    value = parse_value(Assignment, json.dumps(ASSIGNMENT), "k")
    assert list(value.shard("orch2")) == ["payment/be1"] and value.shard("orch1") == {}
    assert parse_value(Assignment, dump_value(value), "k") == value


def test_health_value_is_what_the_lb_reads():
    value = HealthValue(healthy=False, term=7, reason="timeout", checker="orch2", at=1.0)
    raw = dump_value(value).encode()
    assert parse_health({"be1": (raw, 3)}, "test") == {"be1": False}


@pytest.mark.parametrize("model, raw, field", [
    (Assignment, "{", "not valid JSON"),
    (Assignment, "[1]", "must be a JSON object"),
    (Assignment, "[" * 5000, "not valid JSON"),
    (Assignment, json.dumps({**ASSIGNMENT, "term": 0}), "term"),
    (Assignment, json.dumps({**ASSIGNMENT, "evil": 1}), "evil"),
    (Assignment, json.dumps({**ASSIGNMENT, "targets": {"x": {"member": "o"}}}), "targets.x"),
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
                  "/lblab/orch/assignment"):
        assert keys.lb_id_of_config_key(other) is None
    assert keys.split_target(keys.target_name("payment", "be/1")) == ("payment", "be/1")
    assert keys.health_key("payment", "be1") == keys.health_prefix("payment") + "be1"
