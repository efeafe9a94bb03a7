import json

import pytest

from lbapp.orchestrator.history import (HistoryWriter, longest_unchecked, parse_lines,
                                        read_history, term_overlaps)


def line(t, ev="check", member="orch1", term=1, target="p/be1", **fields):
    return json.dumps({"t": t, "ev": ev, "member": member, "term": term, "target": target,
                       **fields})


def test_writer_round_trip(tmp_path):
    path = tmp_path / "h.jsonl"
    writer = HistoryWriter(path, "orch1", flush_every=3600)
    writer.record("check", 3, target="p/be1", ok=True, reason="200", ms=1.5)
    writer.record("health", 3, target="p/be1", healthy=False, reason="timeout", written=True)
    assert path.read_text() == ""   # buffered
    writer.close()
    events, problems = read_history([path])
    assert problems == []
    assert [(e.ev, e.term, e.target) for e in events] == [("check", 3, "p/be1"),
                                                          ("health", 3, "p/be1")]
    assert events[0].fields == {"ok": True, "reason": "200", "ms": 1.5}


def test_no_path_records_nothing():
    writer = HistoryWriter(None, "orch1")
    writer.record("check", 1, target="x")
    writer.close()


@pytest.mark.parametrize("bad", [
    '{"t": 1, "ev": "check", "member": "o", "te',          # truncated by a kill
    "[]", "null", "not json", '{"t": "1", "ev": "check", "member": "o", "term": 1}',
    '{"t": 1, "ev": "boom", "member": "o", "term": 1}',
    '{"t": 1, "ev": "check", "member": "o", "term": true}',
    '{"t": 1, "ev": "check", "member": 5, "term": 1}',
    '{"t": 1, "ev": "check", "member": "o", "term": 1, "target": 3}',
    '{"ev": "check", "member": "o", "term": 1}',
    "[" * 5000,
])
def test_bad_lines_skipped_with_a_reason(bad):
    events, problems = parse_lines([line(1.0), bad, line(2.0)], "orch1.jsonl")
    assert [e.t for e in events] == [1.0, 2.0]
    assert len(problems) == 1 and problems[0].startswith("orch1.jsonl:2: skipped")


def test_merge_sorted_by_time(tmp_path):
    (tmp_path / "a").write_text(line(3.0) + "\n" + line(1.0) + "\n")
    (tmp_path / "b").write_text(line(2.0, member="orch2") + "\n")
    events, _ = read_history([tmp_path / "a", tmp_path / "b"])
    assert [e.t for e in events] == [1.0, 2.0, 3.0]


def test_longest_unchecked():
    events, _ = parse_lines([line(t, target="p/be1") for t in (10.0, 10.2, 10.4, 12.0, 12.2)]
                            + [line(11.0, target="p/be2")] + [line(11.5, target="other")])
    gaps = longest_unchecked(events, ["p/be1", "p/be2", "p/be3"], start=10.0, end=13.0)
    assert gaps["p/be1"] == pytest.approx((1.6, 10.4))
    assert gaps["p/be2"] == pytest.approx((2.0, 11.0))
    assert gaps["p/be3"] == pytest.approx((3.0, 10.0))   # never checked: the whole window


def test_term_overlaps():
    events, _ = parse_lines([
        line(1.0, ev="health", term=5, written=True),
        line(2.0, ev="health", term=7, written=True),
        line(3.0, ev="health", term=5, written=False),   # fenced: not a write
        line(4.0, ev="health", term=5, written=True),    # a deposed writer got through
    ])
    late = term_overlaps(events)
    assert [(e.t, newest) for e, newest in late] == [(4.0, 7)]
