import random

import pytest

from lbapp.backend.knobs import Fault, Knobs, KnobsError, ServeKnobs, apply_update


def test_partial_update_keeps_other_fields():
    knobs = apply_update(Knobs(), {"health": {"status": 503}})
    assert knobs.health.status == 503 and knobs.health.fail_status == 503
    knobs = apply_update(knobs, {"serve": {"latency_ms": 20}})
    assert knobs.health.status == 503 and knobs.serve.latency_ms == 20


@pytest.mark.parametrize("update, field", [
    ({"health": {"status": 99}}, "health.status"),
    ({"health": {"status": "503"}}, "health.status"),
    ({"health": {"status": True}}, "health.status"),
    ({"health": {"status": 503.5}}, "health.status"),
    ({"serve": {"fail_ratio": 1.5}}, "serve.fail_ratio"),
    ({"serve": {"fail_ratio": float("nan")}}, "serve.fail_ratio"),
    ({"serve": {"fail_ratio": "half"}}, "serve.fail_ratio"),
    ({"serve": {"latency_ms": -1}}, "serve.latency_ms"),
    ({"serve": {"latency_ms": 10**12}}, "serve.latency_ms"),
    ({"serve": {"hang": "yes"}}, "serve.hang"),
    ({"serve": {"hang": 1}}, "serve.hang"),
    ({"serve": {"status": 503}}, "serve.status"),       # only health has a status
    ({"serve": {"bogus": 1}}, "serve.bogus"),
    ({"other": {}}, "other"),
    ({"health": [1, 2]}, "health"),
    ({"health": None}, "health"),
])
def test_bad_update_names_the_field_and_applies_nothing(update, field):
    current = apply_update(Knobs(), {"health": {"latency_ms": 5}})
    with pytest.raises(KnobsError) as err:
        apply_update(current, update)
    assert f"  {field}:" in str(err.value)
    assert current.health.latency_ms == 5 and current.health.status == 200


@pytest.mark.parametrize("update", [[], "x", 3, None])
def test_update_must_be_an_object(update):
    with pytest.raises(KnobsError, match="expected a JSON object"):
        apply_update(Knobs(), update)


def test_fail_every_is_deterministic():
    fault, rng = Fault(), random.Random(1)
    knobs = ServeKnobs(fail_every=2, fail_status=503)
    assert [fault.decide(knobs, rng) for _ in range(4)] == [
        (False, None), (False, 503), (False, None), (False, 503)]


def test_fail_ratio_is_roughly_kept():
    fault, rng = Fault(), random.Random(7)
    knobs = ServeKnobs(fail_ratio=0.3)
    failures = sum(fault.decide(knobs, rng)[1] is not None for _ in range(10_000))
    assert 2700 < failures < 3300


def test_hang_wins():
    assert Fault().decide(ServeKnobs(hang=True, fail_every=1), random.Random()) == (True, None)


def test_faults_plan():
    from lbapp.backend.knobs import Faults

    faults = Faults()
    assert faults.plan(b"/health") is None and faults.plan(b"/") is None   # defaults: fast path
    faults.set(apply_update(Knobs(), {"health": {"hang": True}, "serve": {"latency_ms": 7}}))
    assert faults.plan(b"/health") == (True, None, 0)
    assert faults.plan(b"/anything") == (False, None, 7)
    assert faults.plan(b"/metrics") is None                                 # never faulted
