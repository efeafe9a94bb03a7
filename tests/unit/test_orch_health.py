import pytest

from lbapp.orchestrator.health import CheckResult, HealthState
from lbapp.orchestrator.probe import request_bytes, verdict

OK = CheckResult(True, "200", 0.001)
BAD = CheckResult(False, "timeout", 0.15)


def feed(state, results):
    return [t for t in (state.observe(r) for r in results) if t is not None]


def test_fall_then_rise():
    state = HealthState(healthy=True, rise=2, fall=3)
    assert feed(state, [BAD, BAD]) == [] and state.healthy
    [down] = feed(state, [BAD])
    assert not down.healthy and down.reason == "timeout" and down.streak == 3
    assert feed(state, [OK]) == [] and not state.healthy
    [up] = feed(state, [OK])
    assert up.healthy and up.reason == "200"


def test_every_other_check_failing_never_changes_state():
    for start in (True, False):
        state = HealthState(healthy=start, rise=2, fall=2)
        assert feed(state, [OK, BAD] * 50) == [] and state.healthy is start


def test_agreeing_result_resets_the_streak():
    state = HealthState(healthy=True, rise=2, fall=2)
    assert feed(state, [BAD, OK, BAD, OK]) == []
    assert len(feed(state, [BAD, BAD])) == 1


def test_rise_fall_one_follows_every_result():
    state = HealthState(healthy=True, rise=1, fall=1)
    assert [t.healthy for t in feed(state, [BAD, OK, BAD])] == [False, True, False]


def test_rise_fall_validated():
    with pytest.raises(ValueError):
        HealthState(True, rise=0, fall=1)


@pytest.mark.parametrize("line, expected", [
    (b"HTTP/1.1 200 OK", (True, "200")),
    (b"HTTP/1.0 301 Moved", (True, "301")),
    (b"HTTP/1.1 204", (True, "204")),
    (b"HTTP/1.1 503 Service Unavailable", (False, "status 503")),
    (b"HTTP/1.1 404 Not Found", (False, "status 404")),
    (b"HTTP/1.1 199 Odd", (False, "status 199")),
    (b"SSH-2.0-OpenSSH", (False, "bad response")),
    (b"HTTP/1.1 2000 OK", (False, "bad response")),
    (b"HTTP/1.1 abc", (False, "bad response")),
    (b"", (False, "bad response")),
])
def test_verdict(line, expected):
    assert verdict(line) == expected


def test_request_bytes():
    assert request_bytes("10.1.0.11", 8080, "/health").startswith(
        b"GET /health HTTP/1.0\r\nHost: 10.1.0.11:8080\r\n")
    assert b"Host: [::1]:80\r\n" in request_bytes("::1", 80, "/")
