import textwrap
from pathlib import Path

import pytest

from lblab.durations import DurationError, format_duration, parse_duration
from lblab.lab.instance import Lab
from lblab.lab.ledger import Ledger
from lblab.topology.load import load_topology
from scenarios.spec import (ScenarioError, check_against_lab, list_scenarios, load_scenario,
                            parse_scenario)

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"

# A lab object for the reference topology, never brought up: enough to answer which nodes,
# roles, LANs and daemons it has.
REFERENCE = Lab("ref", load_topology("reference"), Ledger("ref"))
MINIMAL = Lab("min", load_topology("minimal"), Ledger("min"))


def base_doc(**over):
    doc = {
        "name": "t",
        "topology": "reference",
        "duration": "10s",
        "traffic": [{"kind": "http", "clients": ["client1"], "url": "http://lb.payment.example/", "rate": 50},
                    {"kind": "dns", "clients": ["client2"], "name": "lb.payment.example", "rate": 5}],
        "faults": [{"at": "2s", "action": "kill", "node": "be1", "daemon": "backend"}],
        "checks": [{"failed_requests": {"max": 0}}],
    }
    doc.update(over)
    return doc


def problems(doc, source="scenarios/t.yaml"):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc, source=source)
    text = str(err.value)
    assert "Traceback" not in text
    for line in text.splitlines():
        assert line.startswith(source + ": ")
    return text


# ------------------------------------------------------------------------------ durations

@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("2s", 2.0), ("1.5s", 1.5), ("1m", 60.0), ("1m30s", 90.0), ("100us", 1e-4),
    ("1h", 3600.0), (".5s", 0.5), (" 3s ", 3.0), (0, 0.0), ("0", 0.0), ("0s", 0.0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad, fragment", [
    (5, "needs a unit"), (1.5, "needs a unit"), ("5", "not a duration"), ("5 parsecs", "not a duration"),
    ("-1s", "negative"), ("", "not a duration"), ("s", "not a duration"), (True, "expected a duration"),
    (None, "expected a duration"), ("1.2.3s", "not a duration"),
])
def test_bad_durations(bad, fragment):
    with pytest.raises(DurationError, match=fragment):
        parse_duration(bad)


def test_format_duration():
    assert format_duration(0.35) == "350ms"
    assert format_duration(12) == "12s"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(90) == "1m30s"
    assert format_duration(0) == "0s"


# ------------------------------------------------------------------------------- parsing

def test_minimal_document_parses_with_defaults():
    s = parse_scenario(base_doc())
    assert s.duration == 10.0
    http, dns = s.traffic
    assert http.timeout == 1.0 and http.keepalive is False and http.resolver is None
    assert dns.qtype == "A"
    assert s.faults[0].params() == {"node": "be1", "daemon": "backend"}
    assert s.analysis.gap == 0.25 and s.analysis.bucket == 0.1
    assert s.clients() == ["client1", "client2"]


def test_shipped_scenarios_are_valid():
    paths = list_scenarios(SCENARIO_DIR)
    names = {p.stem for p in paths}
    assert {"backend-crash", "lb-node-down"} <= names
    for p in paths:
        s = load_scenario(p)
        assert s.name == p.stem
        check_against_lab(s, Lab(s.topology, load_topology(s.topology), Ledger(s.topology)), str(p))


def test_faults_in_time_order_keep_file_order_for_ties():
    s = parse_scenario(base_doc(faults=[
        {"at": "5s", "action": "node_up", "node": "lb2"},
        {"at": "1s", "action": "node_down", "node": "lb2"},
        {"at": "5s", "action": "heal"},
    ]))
    assert [i for i, _ in s.faults_in_order()] == [1, 0, 2]


def test_every_fault_action_parses():
    faults = [
        {"at": "1s", "action": a, "node": "be1", "daemon": "backend"} for a in ("kill", "term", "stop", "cont", "restart")
    ] + [
        {"at": "1s", "action": "node_down", "node": "lb1"},
        {"at": "1s", "action": "node_up", "node": "lb1"},
        {"at": "1s", "action": "link_down", "node": "lb1", "peer": "r1"},
        {"at": "1s", "action": "link_up", "node": "lb1", "peer": "r1"},
        {"at": "1s", "action": "partition", "groups": [["orch1"], ["orch2", "orch3", "etcd1"]]},
        {"at": "1s", "action": "heal"},
        {"at": "1s", "action": "loss", "node": "lb1", "percent": 30},
        {"at": "1s", "action": "delay", "node": "lb1", "delay": "50ms", "jitter": "5ms"},
        {"at": "1s", "action": "drain", "node": "lb1"},
        {"at": "1s", "action": "undrain", "node": "lb1"},
        {"at": "1s", "action": "config", "lb_id": "payment", "set": {"algorithm": "random"}},
        {"at": "1s", "action": "announce", "node": "lb4", "prefix": "10.9.0.0/24"},
        {"at": "1s", "action": "withdraw", "node": "lb4", "prefix": "10.9.0.0/24"},
    ]
    s = parse_scenario(base_doc(faults=faults))
    assert len(s.faults) == len(faults)
    delay = [f for f in s.faults if f.action == "delay"][0]
    assert delay.params() == {"node": "lb1", "delay": 0.05, "jitter": 0.005}


def test_every_check_kind_parses():
    checks = [
        {"failed_requests": {"max": 0, "client": "client1", "after": "1s", "before": "5s"}},
        {"success_rate": {"min": "99.5%", "per_client": True}},
        {"longest_disruption": {"max": "1s", "traffic": "dns"}},
        {"disruptions": {"max": 1}},
        {"dns_failures": {"max": 0}},
        {"all_backends_served": {}},
        {"all_lbs_served": {"expected": ["lb1", "lb2"]}},
        {"served_by_excludes": {"lb": "lb2", "after": "4s"}},
        {"served_by_includes": {"backend": "be1", "min": 3}},
        {"backend_split": {"weights": {"be1": 1, "be2": 3}, "tolerance": "5%"}},
        {"lb_split": {"weights": {"lb1": 1, "lb2": 1}, "tolerance": 0.1}},
        {"latency": {"percentile": 99, "max": "200ms"}},
        {"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 2, "after": "3s", "within": "2s"}},
        {"traffic_sent": {"min_fraction": 0.9}},
        "traffic_sent",
    ]
    s = parse_scenario(base_doc(checks=checks))
    assert [c.kind for c in s.checks][-1] == "traffic_sent"
    assert s.checks[1].min == pytest.approx(0.995)
    assert s.checks[9].tolerance == pytest.approx(0.05)


# -------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("over, path, fragment", [
    ({"colour": "red"}, "colour", "unknown field"),
    ({"name": "Bad Name"}, "name", "pattern"),
    ({"duration": 12}, "duration", "needs a unit"),
    ({"duration": "0s"}, "duration", "must be > 0"),
    ({"traffic": []}, "traffic", "at least 1"),
    ({"checks": []}, "checks", "at least 1"),
    ({"topology": None}, "topology", "string"),
])
def test_top_level_errors(over, path, fragment):
    text = problems(base_doc(**over))
    assert f"scenarios/t.yaml: {path}: " in text
    assert fragment in text


def test_missing_required_field():
    doc = base_doc()
    del doc["topology"]
    assert "scenarios/t.yaml: topology: required field missing" in problems(doc)


@pytest.mark.parametrize("traffic, path, fragment", [
    ({"kind": "smtp", "clients": ["client1"], "rate": 1}, "traffic[0].kind", "unknown kind 'smtp'"),
    ({"clients": ["client1"], "rate": 1}, "traffic[0].kind", "required field missing"),
    ({"kind": "http", "clients": ["client1"], "rate": 1, "url": "ftp://x/"}, "traffic[0].url", "only http://"),
    ({"kind": "http", "clients": ["client1"], "rate": 1, "url": "http:///"}, "traffic[0].url", "no host"),
    ({"kind": "http", "clients": ["client1"], "rate": 0, "url": "http://x/"}, "traffic[0].rate", "greater than 0"),
    ({"kind": "http", "clients": ["client1"], "rate": 1e6, "url": "http://x/"}, "traffic[0].rate", "less than"),
    ({"kind": "http", "clients": [], "rate": 1, "url": "http://x/"}, "traffic[0].clients", "at least 1"),
    ({"kind": "http", "clients": ["c1", "c1"], "rate": 1, "url": "http://x/"}, "traffic[0].clients", "repeated: c1"),
    ({"kind": "http", "clients": ["c1"], "rate": 1, "url": "http://x/", "timeout": "0s"}, "traffic[0].timeout", "> 0"),
    ({"kind": "http", "clients": ["c1"], "rate": 1, "url": "http://x/", "keepalive": "maybe"}, "traffic[0].keepalive", "boolean"),
    ({"kind": "http", "clients": ["c1"], "rate": 1, "url": "http://x/", "resolver": "dns1"}, "traffic[0].resolver", "IP"),
    ({"kind": "dns", "clients": ["c1"], "rate": 1}, "traffic[0].name", "required field missing"),
    ({"kind": "dns", "clients": ["c1"], "rate": 1, "name": "x", "qtype": "MX"}, "traffic[0].qtype", "'A' or 'AAAA'"),
    ({"kind": "dns", "clients": ["c1"], "rate": 1, "name": "x", "url": "http://x/"}, "traffic[0].url", "unknown field"),
    ({"kind": "dns", "clients": ["c1"], "rate": 1, "name": "x", "start": "20s"}, "traffic[0].start", "not before the end"),
    ({"kind": "dns", "clients": ["c1"], "rate": 1, "name": "x", "start": "5s", "end": "4s"}, "traffic[0].end", "after start"),
    ({"kind": "dns", "clients": ["c1"], "rate": 5000, "name": "x", "start": "0s"}, None, None),
])
def test_traffic_errors(traffic, path, fragment):
    doc = base_doc(traffic=[traffic])
    if path is None:
        parse_scenario(base_doc(traffic=[traffic], checks=[{"dns_failures": {"max": 0}}]))
        return
    text = problems(doc)
    assert f"scenarios/t.yaml: {path}: " in text, text
    assert fragment in text, text


@pytest.mark.parametrize("fault, path, fragment", [
    ({"at": "1s", "action": "explode", "node": "be1"}, "faults[0].action", "unknown action 'explode' (expected one of kill,"),
    ({"at": "1s", "node": "be1"}, "faults[0].action", "required field missing"),
    ({"at": "1s", "action": "kill", "node": "be1"}, "faults[0].daemon", "required field missing"),
    ({"action": "kill", "node": "be1", "daemon": "backend"}, "faults[0].at", "required field missing"),
    ({"at": "1s", "action": "kill", "node": "be1", "daemon": "squid"}, "faults[0].daemon", "unknown daemon 'squid'"),
    ({"at": "1s", "action": "kill", "node": "be1", "daemon": "backend", "signal": 9}, "faults[0].signal", "unknown field"),
    ({"at": "30s", "action": "node_down", "node": "lb1"}, "faults[0].at", "not before the end"),
    ({"at": "1", "action": "node_down", "node": "lb1"}, "faults[0].at", "not a duration"),
    ({"at": "1s", "action": "node_down", "node": "lb 1"}, "faults[0].node", "pattern"),
    ({"at": "1s", "action": "link_down", "node": "lb1"}, "faults[0].peer", "required field missing"),
    ({"at": "1s", "action": "partition", "groups": [["a"]]}, "faults[0].groups", "at least 2"),
    ({"at": "1s", "action": "partition", "groups": [["a"], []]}, "faults[0].groups", "at least one node"),
    ({"at": "1s", "action": "partition", "groups": [["a", "b"], ["b"]]}, "faults[0].groups", "more than one group"),
    ({"at": "1s", "action": "loss", "node": "lb1", "percent": 150}, "faults[0].percent", "less than or equal to 100"),
    ({"at": "1s", "action": "delay", "node": "lb1"}, "faults[0].delay", "required field missing"),
    ({"at": "1s", "action": "config", "lb_id": "payment", "set": {}}, "faults[0].set", "at least 1"),
    ({"at": "1s", "action": "announce", "node": "lb4", "prefix": "10.0.0.100/24"}, "faults[0].prefix", "host bits"),
])
def test_fault_errors(fault, path, fragment):
    text = problems(base_doc(faults=[fault]))
    assert f"scenarios/t.yaml: {path}: " in text, text
    assert fragment in text, text


@pytest.mark.parametrize("checks, path, fragment", [
    ([{"explode": {}}], "checks[0]", "unknown check 'explode' (expected one of failed_requests,"),
    ([{"failed_requests": {"max": 0}, "success_rate": {"min": 1}}], "checks[0]", "mapping with one key"),
    ([["failed_requests"]], "checks[0]", "mapping with one key"),
    ([{"failed_requests": 3}], "checks[0].failed_requests", "parameters must be a mapping"),
    ([{"failed_requests": {}}], "checks[0].failed_requests.max", "required field missing"),
    ([{"failed_requests": {"max": -1}}], "checks[0].failed_requests.max", "greater than or equal to 0"),
    ([{"failed_requests": {"max": 0, "kind": "x"}}], "checks[0].failed_requests.kind", "unknown field"),
    ([{"failed_requests": {"max": 0, "colour": "x"}}], "checks[0].failed_requests.colour", "unknown field"),
    ([{"dns_failures": {"max": 0}}, {"success_rate": {"min": 2}}], "checks[1].success_rate.min", "less than or equal to 1"),
    ([{"success_rate": {"min": "lots%"}}], "checks[0].success_rate.min", "not a percentage"),
    ([{"longest_disruption": {"max": "1s", "traffic": "smtp"}}], "checks[0].longest_disruption.traffic", "'http' or 'dns'"),
    ([{"served_by_excludes": {}}], "checks[0].served_by_excludes", "exactly one of 'lb' or 'backend'"),
    ([{"served_by_excludes": {"lb": "lb1", "backend": "be1"}}], "checks[0].served_by_excludes", "exactly one"),
    ([{"backend_split": {"weights": {"be1": 0}}}], "checks[0].backend_split.weights", "must not all be 0"),
    ([{"route_nexthops": {"router": "r1", "prefix": "10.0.0.0/33", "count": 1}}], "checks[0].route_nexthops.prefix", "10.0.0.0/33"),
    ([{"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 1, "after": "9s", "within": "2s"}}],
     "checks[0].route_nexthops.within", "goes past the end"),
    ([{"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 1, "within": "2s", "before": "5s"}}],
     "checks[0].route_nexthops.before", "either 'within' or 'before'"),
    ([{"failed_requests": {"max": 0, "after": "5s", "before": "2s"}}], "checks[0].failed_requests.before", "after 'after'"),
    ([{"failed_requests": {"max": 0, "after": "20s"}}], "checks[0].failed_requests.after", "after the end"),
    ([{"failed_requests": {"max": 0, "client": "client9"}}], "checks[0].failed_requests.client", "sends no traffic"),
    ([{"traffic_sent": {"after": "1s"}}], "checks[0].traffic_sent.after", "unknown field"),
])
def test_check_errors(checks, path, fragment):
    text = problems(base_doc(checks=checks))
    assert f"scenarios/t.yaml: {path}: " in text, text
    assert fragment in text, text


def test_check_positions_survive_malformed_neighbours():
    text = problems(base_doc(checks=[{"nope": {}}, {"failed_requests": {"max": -1}}]))
    assert "checks[0]: unknown check 'nope'" in text
    assert "checks[1].failed_requests.max" in text


def test_check_needing_missing_traffic_kind():
    doc = base_doc(traffic=[{"kind": "dns", "clients": ["client1"], "name": "x", "rate": 1}],
                   checks=[{"all_backends_served": {}}, {"failed_requests": {"max": 0}}])
    text = problems(doc)
    assert "checks[0].all_backends_served: needs http traffic" in text
    assert "checks[1].failed_requests.traffic: the scenario has no http traffic" in text


def test_all_problems_reported_at_once():
    doc = base_doc(colour="x", duration="1 fortnight", faults=[{"at": "1s", "action": "explode"}])
    text = problems(doc)
    assert len(text.splitlines()) == 3


def test_not_a_mapping():
    assert "a scenario must be a YAML mapping" in problems(["x"])


# ------------------------------------------------------------------------------- files

def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = textwrap.dedent("""\
    name: {name}
    topology: reference
    duration: 5s
    traffic:
      - {{kind: http, clients: [client1], url: "http://lb.payment.example/", rate: 10}}
    checks:
      - failed_requests: {{max: 0}}
    """)


def test_load_file(tmp_path):
    s = load_scenario(write(tmp_path, "ok.yaml", GOOD.format(name="ok")))
    assert s.name == "ok"


def test_file_name_must_match(tmp_path):
    p = write(tmp_path, "other.yaml", GOOD.format(name="ok"))
    with pytest.raises(ScenarioError, match=r"other.yaml: name: 'ok' does not match the file name 'other'"):
        load_scenario(p)


def test_yaml_syntax_error_names_line(tmp_path):
    p = write(tmp_path, "bad.yaml", "name: bad\ntraffic: [\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(p)
    assert str(err.value).startswith(f"{p}: line ")
    assert "YAML syntax error" in str(err.value)


def test_duplicate_keys_rejected(tmp_path):
    p = write(tmp_path, "dup.yaml", GOOD.format(name="dup") + "duration: 6s\n")
    with pytest.raises(ScenarioError, match="duplicate key 'duration'"):
        load_scenario(p)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_error_names_file_and_path(tmp_path):
    p = write(tmp_path, "backend-crash.yaml", GOOD.format(name="backend-crash") +
              "faults:\n  - {at: 3s, action: explode, node: be1}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(p)
    assert str(err.value).startswith(f"{p}: faults[0].action: unknown action 'explode' (expected one of ")


# --------------------------------------------------------------------- against the lab

def test_check_against_lab_names_unknown_nodes_roles_and_daemons():
    s = parse_scenario(base_doc(
        traffic=[{"kind": "http", "clients": ["client1", "client9"], "url": "http://x/", "rate": 1}],
        faults=[{"at": "1s", "action": "kill", "node": "be1", "daemon": "lbserver"},
                {"at": "1s", "action": "drain", "node": "be2"},
                {"at": "1s", "action": "partition", "groups": [["orch1"], ["orch9"]]},
                {"at": "1s", "action": "link_down", "node": "lb1", "peer": "r2"}],
        checks=[{"route_nexthops": {"router": "lb1", "prefix": "10.0.0.100/32", "count": 2}},
                {"served_by_excludes": {"lb": "lb9"}},
                {"backend_split": {"weights": {"be1": 1, "be7": 1}}}]))
    with pytest.raises(ScenarioError) as err:
        check_against_lab(s, MINIMAL, "scenarios/t.yaml")
    text = str(err.value)
    for expected in [
        "topology: the scenario needs topology 'reference', the lab runs 'minimal'",
        "traffic[0].clients[1]: unknown node 'client9'",
        "faults[0].daemon: 'be1' (backend) runs no 'lbserver' (it runs: backend)",
        "faults[1].node: 'be2' is a backend node, not a lb node",
        "faults[2].groups[1][0]: unknown node 'orch9'",
        "faults[3].peer: unknown node 'r2'",
        "checks[0].route_nexthops.router: 'lb1' is a lb node, not a router node",
        "checks[1].served_by_excludes.lb: unknown node 'lb9'",
        "checks[2].backend_split.weights.be7: unknown node 'be7'",
    ]:
        assert f"scenarios/t.yaml: {expected}" in text, text


def test_check_against_lab_accepts_good_scenario():
    check_against_lab(parse_scenario(base_doc()), REFERENCE)
