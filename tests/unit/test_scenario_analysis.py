import json

import pytest

from scenarios import analysis as A
from scenarios.history import History, HistoryWriter, count_ops, load_history, merge, parse_lines

T0 = 1_700_000_000.0


def op(t, outcome="ok", client="client1", lb="lb1", backend="be1", latency=0.002, kind="http"):
    rec = {"type": kind, "client": client, "t_send": T0 + t, "outcome": outcome, "latency": latency}
    if outcome == "ok" and kind == "http":
        rec.update(lb=lb, backend=backend)
    return rec


def stream(start, end, rate, outcome="ok", **kw):
    n = round((end - start) * rate)
    return [op(start + i / rate, outcome, **kw) for i in range(n)]


# ------------------------------------------------------------------------- percentiles

@pytest.mark.parametrize("values, p, expected", [
    ([], 50, None),
    ([7], 99, 7),
    ([1, 2, 3, 4], 50, 2),
    ([1, 2, 3, 4], 75, 3),
    ([1, 2, 3, 4], 100, 4),
    (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 50, 50),
    ([5, 1, 4, 2, 3], 50, 3),
    (list(range(1, 1001)), 99.9, 999),
])
def test_percentile_nearest_rank(values, p, expected):
    assert A.percentile(values, p) == expected


def test_latency_stats_only_successful():
    ops = [op(0, latency=0.001), op(0.1, latency=0.003), op(0.2, "timeout", latency=1.0)]
    s = A.latency_stats(ops)
    assert s == {"count": 2, "p50": 0.001, "p90": 0.003, "p99": 0.003, "max": 0.003}
    assert A.latency_stats([])["p99"] is None


# ------------------------------------------------------------------- disruption windows

def test_no_failures_no_windows():
    assert A.disruption_windows(stream(0, 1, 100), T0, 0.25) == []


def test_single_outage_window():
    ops = stream(0, 3, 100) + stream(3, 3.4, 100, "timeout") + stream(3.4, 6, 100)
    ws = A.disruption_windows(ops, T0, 0.25)
    assert len(ws) == 1
    w = ws[0]
    assert w.start == pytest.approx(3.0)
    assert w.end == pytest.approx(3.39)
    assert w.duration == pytest.approx(0.39)
    assert w.failures == 40 and w.operations == 40
    assert w.outcomes == {"timeout": 40}


def test_partial_outage_with_interleaved_successes_is_one_window():
    # one LB of three dead: every third request fails, successes in between
    ops = [op(i / 300, "timeout" if (i % 3 == 0 and 900 <= i < 990) else "ok") for i in range(1800)]
    ws = A.disruption_windows(ops, T0, 0.25)
    assert len(ws) == 1
    assert ws[0].start == pytest.approx(3.0)
    assert ws[0].end == pytest.approx(987 / 300)
    assert ws[0].failures == 30
    assert ws[0].operations == 88   # everything sent between first and last failure


def test_failures_closer_than_gap_merge_farther_split():
    fails = [op(1.0, "reset"), op(1.2, "reset"), op(1.44, "refused"), op(2.0, "timeout")]
    ws = A.disruption_windows(fails + stream(0, 3, 10), T0, 0.25)
    assert [(round(w.start, 3), round(w.end, 3), w.failures) for w in ws] == [(1.0, 1.44, 3), (2.0, 2.0, 1)]
    assert ws[0].outcomes == {"reset": 2, "refused": 1}
    # a larger gap merges all
    ws = A.disruption_windows(fails, T0, 0.6)
    assert len(ws) == 1 and ws[0].duration == pytest.approx(1.0)


def test_gap_boundary_is_inclusive():
    ws = A.disruption_windows([op(1.0, "timeout"), op(1.25, "timeout")], T0, 0.25)
    assert len(ws) == 1


def test_isolated_failure_is_zero_length_window():
    ws = A.disruption_windows([op(2, "http_502")] + stream(0, 4, 10), T0, 0.25)
    assert len(ws) == 1 and ws[0].duration == 0 and ws[0].failures == 1


def test_windows_merge_across_clients_and_unordered_input():
    ops = [op(1.1, "timeout", client="client2"), op(1.0, "timeout", client="client1"), op(1.05, "ok")]
    ws = A.disruption_windows(ops, T0, 0.25)
    assert len(ws) == 1 and ws[0].clients == ["client1", "client2"] and ws[0].operations == 3


def test_cancelled_operations_are_not_failures():
    ops = [op(1.0, "cancelled"), op(1.1, "cancelled")]
    assert A.disruption_windows(ops, T0, 0.25) == []
    s = A.summarize(ops + [op(0.5)], T0, 0.25, 0.1)
    assert s["total"] == 1 and s["failed"] == 0


def test_longest_prefers_duration_then_failures():
    ws = [A.Window(1, 1.2, 5), A.Window(3, 3.5, 2), A.Window(5, 5.5, 9)]
    assert A.longest(ws) is ws[2]
    assert A.longest([]) is None


# --------------------------------------------------------------------- series and sums

def test_timeseries_buckets():
    ops = [op(0.01), op(0.05, "timeout"), op(0.15), op(0.35, "reset")]
    ts = A.timeseries(ops, T0, 0.1, duration=0.5)
    assert ts == [{"t": 0.0, "ok": 1, "failed": 1}, {"t": 0.1, "ok": 1, "failed": 0},
                  {"t": 0.2, "ok": 0, "failed": 0}, {"t": 0.3, "ok": 0, "failed": 1},
                  {"t": 0.4, "ok": 0, "failed": 0}]


def test_select_window_and_client():
    ops = [op(0.5), op(1.0), op(1.5, client="client2"), op(2.0), op(2.5, "cancelled")]
    assert len(A.select(ops, T0, after=1.0, before=2.0)) == 2
    assert len(A.select(ops, T0, after=1.0)) == 3
    assert len(A.select(ops, T0, client="client2")) == 1


def test_summarize_counts_split_and_rates():
    ops = (stream(0, 1, 30, lb="lb1", backend="be1") + stream(0, 1, 10, lb="lb2", backend="be2", client="client2")
           + [op(0.5, "timeout"), op(0.6, "dns_fail", client="client2")])
    s = A.summarize(ops, T0, 0.25, 0.1, duration=1.0)
    assert s["total"] == 42 and s["ok"] == 40 and s["failed"] == 2
    assert s["success_rate"] == pytest.approx(40 / 42, abs=1e-6)
    assert s["outcomes"] == {"ok": 40, "timeout": 1, "dns_fail": 1}
    assert s["per_lb"] == {"lb1": 30, "lb2": 10}
    assert s["per_backend"] == {"be1": 30, "be2": 10}
    assert s["per_client"]["client2"] == {"sent": 11, "ok": 10, "failed": 1, "success_rate": pytest.approx(10 / 11, abs=1e-6)}
    assert len(s["disruptions"]) == 1 and s["longest_disruption"] == pytest.approx(0.1)
    assert len(s["timeseries"]) == 10


def test_dns_fail_summary():
    ops = stream(0, 2, 10) + [op(1.0, "dns_fail"), op(1.1, "dns_fail"), op(1.5, "timeout")]
    d = A.dns_fail_summary(sorted(ops, key=lambda r: r["t_send"]), T0, 0.25)
    assert d["count"] == 2 and d["first"] == pytest.approx(1.0) and d["last"] == pytest.approx(1.1)
    assert len(d["windows"]) == 1


def test_generator_stats_from_end_and_meta_records():
    h = History(
        http=[op(0.1, client="client2"), op(0.2, client="client2")],
        meta=[{"type": "meta", "client": "client1", "duration": 2.0, "streams": [{"rate": 10, "start": 0, "end": None}]},
              {"type": "meta", "client": "client2", "duration": 2.0,
               "streams": [{"rate": 10, "start": 0, "end": None}, {"rate": 5, "start": 1.0, "end": 1.5}]}],
        end=[{"type": "end", "client": "client1", "streams": [{"scheduled": 20, "sent": 19, "missed": 1}]}])
    g = A.generator_stats(h)
    assert g["per_client"]["client1"] == {"scheduled": 20, "sent": 19, "missed": 1}
    # client2 was killed: scheduled estimated from its meta (20 + 3), sent counted from its records
    assert g["per_client"]["client2"] == {"scheduled": 23, "sent": 2, "missed": 0, "killed": 1}
    assert g["scheduled"] == 43 and g["sent"] == 21
    assert g["sent_fraction"] == pytest.approx(21 / 43, abs=1e-6)


def test_analyze_shape():
    h = merge([History(http=stream(0, 1, 10), dns=stream(0, 1, 5, kind="dns"))])
    a = A.analyze(h, T0, 1.0)
    assert set(a) >= {"t0", "http", "dns", "http_dns_failures", "generators", "clients", "bad_lines"}
    assert a["http"]["total"] == 10 and a["dns"]["total"] == 5
    assert "per_lb" not in a["dns"]
    json.dumps(a)


# ------------------------------------------------------------------------------ history

def test_history_roundtrip_and_torn_last_line(tmp_path):
    p1, p2 = tmp_path / "h1.jsonl", tmp_path / "h2.jsonl"
    w = HistoryWriter(p1)
    w.write({"type": "meta", "client": "client1", "start": T0 + 0.5})
    w.write(op(1.0))
    w.write(op(0.7, "timeout"))
    w.close()
    with open(p1, "a") as f:
        f.write('{"type":"http","client":"client1","t_se')       # killed mid-write
    p2.write_text(json.dumps(op(0.9, client="client2")) + "\n" + json.dumps(op(0.2, kind="dns")) + "\n"
                  + "[1,2]\n" + json.dumps({"type": "http"}) + "\n")
    h = load_history([p1, p2, tmp_path / "missing.jsonl"])
    assert [r["t_send"] - T0 for r in h.http] == pytest.approx([0.7, 0.9, 1.0])
    assert len(h.dns) == 1 and len(h.meta) == 1
    assert h.bad_lines == 3
    assert h.start() == T0 + 0.5
    assert h.clients() == ["client1", "client2"]
    assert count_ops(p1) == 2 and count_ops(tmp_path / "missing.jsonl") == 0


def test_history_start_without_meta():
    h = parse_lines([json.dumps(op(2.0)), json.dumps(op(1.0, kind="dns"))])
    assert h.start() == T0 + 1.0
    assert History().start() is None


def test_writer_buffers_until_flush(tmp_path):
    p = tmp_path / "h.jsonl"
    w = HistoryWriter(p)
    w.write(op(1.0))
    assert p.read_text() == ""
    w.flush()
    assert json.loads(p.read_text())["outcome"] == "ok"
    w.close()
