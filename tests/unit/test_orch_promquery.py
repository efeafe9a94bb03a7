import pytest

from lbapp.orchestrator.autoscale import NodeLoad
from lbapp.orchestrator.promquery import PromError, combine, parse_vector, render_queries


def vector(*samples):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"node": node}, "value": [1700000000.1, value]} for node, value in samples]}}


def test_queries_use_selector_window_and_label():
    queries = render_queries('job="lbserver"', 10, "node")
    assert queries["rps"] == 'sum by (node) (rate(lbapp_lb_requests_total{job="lbserver"}[10s]))'
    assert set(queries) == {"rps", "cpu", "connections"}


def test_parse_and_combine():
    rps = parse_vector(vector(("lb1", "120.5"), ("lb2", "NaN")), "node", "q")
    assert rps == {"lb1": 120.5}   # NaN: no data yet
    loads = combine({"rps": rps, "cpu": {"lb1": 0.2, "lb3": 0.1}, "connections": {"lb1": 4.0}})
    assert loads == {"lb1": NodeLoad(rps=120.5, cpu=0.2, connections=4.0)}


@pytest.mark.parametrize("doc, message", [
    ([], "not a JSON object"),
    ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "bad_data"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "instant vector"),
    ({"status": "success", "data": {"resultType": "vector", "result": "x"}}, "instant vector"),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
     "malformed sample"),
    (vector(("lb1", "abc")), "malformed sample"),
    ({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"node": 5}, "value": [1, "1"]}]}}, "malformed sample"),
    ({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"node": "lb1"}, "value": [1, 2.0]}]}}, "malformed sample"),
])
def test_hostile_answers_are_errors(doc, message):
    with pytest.raises(PromError, match=message):
        parse_vector(doc, "node", "q")
