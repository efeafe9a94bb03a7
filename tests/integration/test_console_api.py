"""The console's JSON API against real etcd, Redis, backends and an LB server (127.0.0.1)."""
from __future__ import annotations

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.integration.harness import base_config, missing_daemons, wait_until

pytestmark = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")

LB = "/api/lbs/payment"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One etcd, Redis, two backends, one LB server and the console for the whole module."""
    from tests.integration.harness import Lab
    lab = Lab(tmp_path_factory.mktemp("console"))
    try:
        etcd, redis = lab.etcd(), lab.redis()
        backends = [lab.backend("be1"), lab.backend("be2")]
        etcd.put_config(base_config(backends))
        lb = lab.lb(etcd, redis)
        console = lab.console([etcd.endpoint], redis,
                              {"payment": {"lb1": f"http://127.0.0.1:{lb.admin_port}"}})
        yield etcd, lb, console
    finally:
        lab.close()


def revision(etcd) -> int:
    """The whole store's revision: unchanged means nothing at all was written."""
    import urllib.request
    req = urllib.request.Request(f"{etcd.endpoint}/v3/kv/range", method="POST",
                                 data=json.dumps({"key": "AA==", "range_end": "AA==",
                                                  "count_only": True}).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        return int(json.load(r)["header"]["revision"])


def current(console) -> dict:
    status, headers, doc = console.call("GET", LB)
    assert status == 200 and headers["etag"] == f'"{doc["version"]}"'
    return doc


def test_get_shows_config_version_and_what_each_lb_server_serves(stack):
    etcd, lb, console = stack
    doc = current(console)
    assert doc["config"]["backend_servers"][0]["name"] == "be1"
    assert [s["node"] for s in doc["servers"]] == ["lb1"]
    wait_until(lambda: current(console)["all_serving"], 10, "lb1 serving the stored version")
    status, _, lbs = console.call("GET", "/api/lbs")
    assert status == 200 and [x["lb_id"] for x in lbs["lbs"]] == ["payment"]


def test_change_lands_on_the_lb_server_and_is_audited(stack):
    etcd, lb, console = stack
    before = current(console)
    status, headers, answer = console.call("PUT", f"{LB}/algorithm",
                                           {"algorithm": "least_connections"},
                                           version=before["version"])
    assert status == 200 and answer["published_to"] == 1
    wait_until(lambda: lb.status()["config"]["version"] == answer["version"], 5,
               "lb1 serving the new version")
    assert lb.status()["config"]["algorithm"] == "least_connections"
    entry = console.call("GET", "/api/audit?limit=1")[2]["entries"][0]
    assert entry["version"] == answer["version"] and entry["who"].startswith("api@")
    assert entry["diff"] == [{"field": "algorithm", "after": "least_connections"}]  # was unset


def test_a_write_says_when_it_was_committed_and_the_lb_server_applied_it_after(stack):
    import time

    etcd, lb, console = stack
    before = current(console)
    sent = time.time()
    status, _, answer = console.call("PUT", f"{LB}/weights", {"be1": 2}, version=before["version"])
    answered = time.time()
    assert status == 200 and sent <= answer["committed_at"] <= answered
    wait_until(lambda: lb.status()["config"]["version"] == answer["version"], 5, "lb1 serving it")
    assert lb.status()["config"]["applied_at"] >= answer["committed_at"] - 0.005   # one clock


def test_ready_only_while_etcd_answers(stack, lab):
    from tests.integration.harness import free_port, http_get

    _, _, console = stack
    assert http_get(console.port, "/-/ready")[0] == 200
    cut_off = lab.console([f"http://127.0.0.1:{free_port()}"], None, etcd_timeout_ms=100)
    status, _, body = http_get(cut_off.port, "/-/ready")
    assert status == 503 and b"etcd" in body
    assert http_get(cut_off.port, "/-/healthy")[0] == 200


def test_add_weight_and_remove_a_backend(stack):
    etcd, lb, console = stack
    v = current(console)["version"]
    status, _, added = console.call("POST", f"{LB}/backends",
                                    {"address": "127.0.0.1", "port": 9, "name": "spare"},
                                    version=v)
    assert status == 200
    status, _, weighted = console.call("PUT", f"{LB}/weights", {"spare": 0, "be1": 5},
                                       version=added["version"])
    assert status == 200
    doc = current(console)
    assert {b["name"]: b["weight"] for b in doc["backend_details"]} == {
        "be1": 5, "be2": 1, "spare": 0}
    status, _, removed = console.call("DELETE", f"{LB}/backends/spare",
                                      version=weighted["version"])
    assert status == 200
    assert current(console)["config"]["weights"] == {"be1": 5}


BAD = [
    # (method, path, body or raw bytes, extra, expected status, field, reason)
    ("DELETE", f"{LB}/backends/nope", None, {}, 404, "backend", "unknown_backend"),
    ("PUT", f"{LB}/weights", {"nope": 1}, {}, 404, "weights.nope", "unknown_backend"),
    ("PUT", f"{LB}/weights", {"be1": -1}, {}, 422, "weights.be1", "invalid"),
    ("PUT", f"{LB}/weights", {"be1": 2.5}, {}, 422, "weights.be1", "invalid"),
    ("PUT", f"{LB}/weights", {"be1": "3"}, {}, 422, "weights.be1", "invalid"),
    ("PUT", f"{LB}/weights", {"be1": True}, {}, 422, "weights.be1", "invalid"),
    ("PUT", f"{LB}/algorithm", {"algorithm": "fastest"}, {}, 422, "algorithm",
     "unknown_algorithm"),
    ("PUT", f"{LB}/algorithm", b"{not json", {}, 400, "(body)", "malformed_json"),
    ("PUT", f"{LB}/algorithm", {"algorithm": "maglev"}, {"content_type": "text/plain"}, 415,
     "Content-Type", "content_type"),
    ("PUT", f"{LB}/config", b'{"x": "' + b"a" * 70_000 + b'"}', {}, 413, "(body)",
     "too_large"),
    ("PUT", "/api/lbs/nope/algorithm", {"algorithm": "maglev"}, {}, 404, "lb_id",
     "unknown_lb"),
    ("PUT", f"{LB}/algorithm", {"algorithm": "maglev"}, {"stale": True}, 409, "If-Match",
     "stale_version"),
    ("PUT", f"{LB}/algorithm", {"algorithm": "maglev"}, {"no_version": True}, 428, "If-Match",
     "no_version"),
    ("PUT", f"{LB}/algorithm", {"algorithm": "maglev"}, {"token": None}, 401, "Authorization",
     "unauthorized"),
    ("PUT", f"{LB}/algorithm", {"algorithm": "maglev"}, {"token": "wrong-token"}, 401,
     "Authorization", "unauthorized"),
    ("PUT", f"{LB}/config", {"backend_servers": []}, {}, 422, "backend_servers", "schema"),
    ("PATCH", f"{LB}/config", {"poll_frequency": "fast"}, {}, 422, "poll_frequency", "schema"),
    ("POST", f"{LB}/backends", {"address": "127.0.0.1", "port": 70000}, {}, 422, "port",
     "invalid"),
    ("POST", f"{LB}/backends", {"address": "127.0.0.1", "port": 1, "name": "be1"}, {}, 409,
     "name", "exists"),
    ("DELETE", f"{LB}/nodes/lb9/drain", None, {}, 404, "node", "unknown_node"),
]


@pytest.mark.parametrize("method,path,body,extra,status,field,reason", BAD,
                         ids=[f"{b[0]} {b[1].rsplit('/', 1)[-1]} {b[6]}" for b in BAD])
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(stack, method, path, body,
                                                                  extra, status, field, reason):
    etcd, _, console = stack
    version = current(console)["version"]
    if extra.get("stale"):
        version -= 1
    before = revision(etcd)
    kwargs = {"token": extra.get("token", "default"),
              "content_type": extra.get("content_type", "application/json")}
    if isinstance(body, bytes):
        kwargs["raw"] = body
    answer = console.call(method, path, None if isinstance(body, bytes) else body,
                          version=None if extra.get("no_version") else version, **kwargs)
    assert (answer[0], answer[2].get("field"), answer[2].get("reason")) == (status, field, reason), \
        answer
    assert answer[2]["error"]
    assert revision(etcd) == before


def test_concurrent_edits_one_wins_the_other_gets_409(stack):
    etcd, _, console = stack
    version = current(console)["version"]
    results = []
    barrier = threading.Barrier(8)

    def edit(i):
        barrier.wait()
        results.append(console.call("PUT", f"{LB}/weights", {"be2": i + 1}, version=version))
    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r[0] for r in results)
    assert codes == [200] + [409] * 7, codes
    winner = next(r for r in results if r[0] == 200)
    doc = current(console)
    assert doc["version"] == winner[2]["version"]
    weight = doc["config"]["weights"]["be2"]
    audit = console.call("GET", "/api/audit?limit=1")[2]["entries"][0]
    assert audit["version"] == doc["version"] and audit["after"]["weights"]["be2"] == weight


def test_metrics_count_writes_and_rejects(stack):
    _, _, console = stack
    from tests.integration.harness import http_get
    text = http_get(console.port, "/metrics")[2].decode()
    assert 'lbapp_console_rejects_total{reason="stale_version"}' in text
    assert 'lbapp_console_writes_total{action="set",lb_id="payment"}' in text
    assert "lbapp_console_publish_seconds_count" in text
    assert 'lbapp_console_requests_total{code="200",method="GET",route="/api/lbs/{lb_id}"}' in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["algorithm", "hash", "weights", "be1", "be2", "port",
                                       "address", "name", "weight", "backend_servers",
                                       "poll_frequency", "key", "x"]), children, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from([("PUT", "/config"), ("PATCH", "/config"), ("POST", "/backends"),
                              ("PUT", "/weights"), ("PUT", "/algorithm")]),
       body=json_values)
def test_fuzz_writes_are_4xx_or_valid_and_refusals_write_nothing(stack, route, body):
    etcd, _, console = stack
    version = current(console)["version"]
    before = revision(etcd)
    status, _, answer = console.call(route[0], f"{LB}{route[1]}", body, version=version)
    if status == 200:
        stored = current(console)
        assert stored["version"] == answer["version"]
        from lbapp.config.schema import parse_config
        parse_config(stored["config"], strict=True)  # whatever was written is valid
        # put a known good config back for the next example
        reset = console.call("PUT", f"{LB}/config", FUZZ_RESET[0], version=stored["version"])
        assert reset[0] == 200, reset
    else:
        assert 400 <= status < 500 and answer["field"], (status, answer)
        assert revision(etcd) == before


FUZZ_RESET: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def _fuzz_reset(stack):
    FUZZ_RESET[:] = [current(stack[2])["config"]]


def test_drain_asks_the_lb_server_and_records_it_undrain_clears_it(lab):
    etcd, redis = lab.etcd(), lab.redis()
    backend = lab.backend("be1")
    etcd.put_config(base_config([backend]))
    lb = lab.lb(etcd, redis, drain_grace_ms=100)
    console = lab.console([etcd.endpoint], redis,
                          {"payment": {"lb1": f"http://127.0.0.1:{lb.admin_port}"}})
    status, _, answer = console.call("POST", f"{LB}/nodes/lb1/drain")
    assert status == 200 and answer["drained"] and answer["lb_server"] == "HTTP 202"
    assert lb.proc.wait(15) == 0  # the LB server drained and exited
    assert current(console)["drained"]["lb1"]["by"].startswith("api@")
    assert console.call("POST", f"{LB}/nodes/lb1/drain", token=None)[0] == 401
    status, _, answer = console.call("DELETE", f"{LB}/nodes/lb1/drain")
    assert status == 200 and not answer["drained"] and current(console)["drained"] == {}
    actions = [e["action"] for e in console.call("GET", "/api/audit")[2]["entries"]]
    assert actions[:2] == ["undrain lb1", "drain lb1"]
