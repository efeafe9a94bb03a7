"""The report's figures as data (scenarios.figures): buckets, counts, percentiles, shares, marks,
the floor, route segments, and which figures a result directory gets. No pixels."""
import json
import math

import pytest

from benchmarks.report_timing import T0, write_synthetic_run
from scenarios import figures as F
from scenarios.resultdir import Fault, Floor, Heal, KindSummary, Result, RouteTrack, Window, load_result_dir


def op(t, outcome="ok", latency=0.01, kind="http", **extra):
    return {"type": kind, "client": "client1", "t_send": T0 + t, "outcome": outcome, "latency": latency, **extra}


def test_bins_cover_the_run_and_widen_for_long_ones():
    bins = F.bins_for(16, 0.1)
    assert (bins.width, bins.count) == (0.1, 160)
    assert bins.edges()[0] == 0 and bins.edges()[-1] == pytest.approx(16)
    assert [bins.index(t) for t in (-0.01, 0, 0.0999, 0.1, 15.999, 16)] == [None, 0, 0, 1, 159, None]
    assert [bins.index(t) for t in (math.inf, -math.inf, math.nan, 1e300)] == [None] * 4
    long = F.bins_for(10 * 24 * 3600, 0.1)
    assert long.count == F.MAX_BUCKETS and long.width == pytest.approx(216)
    assert F.bins_for(0.05, 0.1).count == 1
    assert F.Bins(0.1, 160).wider(5) == F.Bins(0.5, 32)


def test_counts_per_bucket_skip_cancelled_and_out_of_range():
    ops = [op(0.01), op(0.02, "timeout"), op(0.05, "cancelled"), op(0.15), op(0.16, "refused"),
           op(0.17, "http_503"), op(-0.5), op(99)]
    counts = F.outcome_counts(F.group(ops, T0, F.Bins(0.1, 3)))
    assert counts == {"ok": [1, 1, 0], "failed": [1, 2, 0]}


def test_latency_percentiles_of_successes_only_and_hostile_values_ignored():
    ops = ([op(0.01 * i, latency=0.001 * (i + 1)) for i in range(100)] +
           [op(0.5, "timeout", latency=1.0), op(0.6, latency="slow"), op(0.7, latency=-1), op(0.8, latency=math.inf),
            op(0.9, latency=True), op(0.95, latency=None)])
    series = F.latency_percentiles(F.group(ops, T0, F.Bins(1.0, 2)))
    assert series["count"] == [100, 0]
    assert series["p50"] == [pytest.approx(0.050), None] and series["p99"] == [pytest.approx(0.099), None]


def test_shares_per_bucket_sum_to_one_and_name_the_unknown():
    ops = [op(0.1, lb="lb1"), op(0.2, lb="lb1"), op(0.3, lb="lb3"), op(0.4, lb="lb2", outcome="reset"),
           op(1.1), op(1.2, lb={"odd": 1}), op(2.5, "timeout")]
    s = F.shares(F.group(ops, T0, F.Bins(1.0, 3)), "lb")
    assert list(s) == ["?", "lb1", "lb3", '{"odd": 1}']
    assert s["lb1"] == [pytest.approx(2 / 3), 0, 0] and s["lb3"] == [pytest.approx(1 / 3), 0, 0]
    assert s["?"] == [0, 0.5, 0] and s['{"odd": 1}'] == [0, 0.5, 0]
    assert "lb2" not in s                                  # it served nothing successfully


def test_many_names_fold_into_others_keeping_the_sums():
    ops = [op(0.01 * i, backend=f"be{i % 30:02d}") for i in range(90)] + [op(0.95, backend="be00")] * 10
    s = F.shares(F.group(ops, T0, F.Bins(1.0, 1)), "backend", limit=10)
    assert len(s) == 10 and list(s)[-1] == F.OTHER
    assert s["be00"] == [pytest.approx(13 / 100)]
    assert sum(v[0] for v in s.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("fault, label", [
    (Fault(at=3, action="node_down", params={"node": "lb2"}), "node_down lb2"),
    (Fault(at=3, action="kill", params={"node": "lb2", "daemon": "lbserver"}), "kill lb2 lbserver"),
    (Fault(at=3, action="delay", params={"node": "lb1"}, status="skipped"), "delay lb1 (skipped)"),
    (Fault(at=3, action="partition", params={"groups": [["etcd1"], ["etcd2", "etcd3"]]}),
     'partition [["etcd1"],["etcd2","etcd3"]]'),
    (Fault(at=3, action="config", params={"lb_id": "payment", "set": {"weights": {"10.1.0.11:8080": 6}}}),
     'config payment {"weights":{"10.1.0.11:8…'),
])
def test_fault_labels(fault, label):
    assert F.fault_label(fault) == label and len(label) <= F.LABEL_CHARS


def test_marks_at_applied_time_else_scheduled_then_the_heal():
    result = Result(scenario="s", duration=10, status="passed", heal=Heal(at=10.5),
                    faults=[Fault(at=6, action="node_up", params={"node": "lb2"}, applied_at=6.02),
                            Fault(at=3, action="node_down", params={"node": "lb2"}, status="not_reached")])
    assert [(m.t, m.label, m.status) for m in F.marks(result)] == [
        (3, "node_down lb2 (not_reached)", "not_reached"), (6.02, "node_up lb2", "applied"), (10.5, "heal", "heal")]


def test_floor_is_drawn_at_the_longest_window():
    windows = [Window(start=1, end=1.1, duration=0.1, failures=5), Window(start=4, end=4.3, duration=0.3, failures=2)]
    summary = KindSummary(disruptions=windows)
    result = Result(scenario="s", duration=10, status="passed", floor=Floor(disruption=0.3, note="BFD"))
    assert F.floor_mark(result, summary) == F.FloorMark(4, pytest.approx(0.3), 0.3, "BFD")
    assert F.floor_mark(result.model_copy(update={"floor": None}), summary) is None
    assert F.floor_mark(result, KindSummary()) is None


def test_route_segments_follow_changes_within_polled_spans():
    track = RouteTrack.model_validate_json(json.dumps({
        "polls": 9, "spans": [[0.0, 5.0], [7.0, 9.0]],
        "changes": [{"t": 0.0, "nexthops": ["a", "b", "c"]}, {"t": 3.2, "nexthops": ["a", "c"]},
                    {"t": 4.0, "error": "netlink"}, {"t": 4.5, "nexthops": ["a", "c"]},
                    {"t": 8.0, "nexthops": ["a", "b", "c"]}]}))
    segs = [(s.start, s.end, s.count, s.error) for s in F.route_segments(track, 10)]
    assert segs == [(0.0, 3.2, 3, None), (3.2, 4.0, 2, None), (4.0, 4.5, None, "netlink"), (4.5, 5.0, 2, None),
                    (7.0, 8.0, 2, None), (8.0, 9.0, 3, None)]


def test_route_segments_without_spans_run_to_the_end():
    track = RouteTrack(changes=[{"t": 1.0, "nexthops": ["a"]}, {"t": 2.0, "nexthops": []}])
    assert [(s.start, s.end, s.count) for s in F.route_segments(track, 5)] == [(1.0, 2.0, 1), (2.0, 5, 0)]
    assert F.route_segments(RouteTrack(), 5) == []


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return load_result_dir(write_synthetic_run(tmp_path_factory.mktemp("run"), duration=10, rate=50))


def test_a_full_run_gets_every_figure(synthetic):
    figs = F.figures_for(synthetic)
    assert [f.name for f in figs] == ["timeline-http", "timeline-dns", "latency", "share-lb", "share-backend", "routes"]
    timeline = figs[0].data
    assert len(timeline["ok"]) == 100 and sum(timeline["ok"]) + sum(timeline["failed"]) == 3 * 50 * 10
    assert sum(timeline["failed"]) == synthetic.result.analysis.http.failed > 0
    assert timeline["floor"].floor == 0.3 and timeline["windows"]
    lb = figs[3].data["shares"]
    assert set(lb) == {"lb1", "lb2", "lb3"}
    down = [i for i, e in enumerate(figs[3].data["edges"][:-1]) if 2.5 <= e < 6.5]   # lb2 down 2 s .. 6 s (+1)
    assert all(lb["lb2"][i] == 0 for i in down)
    assert [s.count for s in figs[5].data["tracks"]["r1 10.0.0.100/32"]] == [3, 2, 3]


def test_figures_only_for_what_was_recorded(tmp_path):
    rd = load_result_dir(write_synthetic_run(tmp_path / "run", duration=4, rate=20, dns_rate=0))
    rd.result.route_polls = {}
    for rec in rd.history.http:
        rec.pop("lb", None)
    names = [f.name for f in F.figures_for(rd)]
    assert names == ["timeline-http", "latency", "share-backend"]


def test_every_figure_kind_has_a_drawer():
    from scenarios.plots import DRAWERS
    assert set(F.BUILDERS) <= set(DRAWERS)
