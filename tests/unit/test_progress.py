"""Bring-up's counts (what the progress bars show): totals, done never past the total, a count
that goes down again (checks), every change reaching the listener, thread safety, bad names."""
import threading

import pytest

from lblab.lab.progress import CHECKS, COUNTED, LINKS, NAMESPACES, READY, STARTED, Counts, Tally


def test_counts_reach_the_listener_in_order():
    seen = []
    counts = Counts(lambda what, tally: seen.append((what, tally)))
    counts.expect(NAMESPACES, 3)
    counts.add(NAMESPACES)
    counts.add(NAMESPACES, 2)
    assert seen == [(NAMESPACES, Tally(0, 3)), (NAMESPACES, Tally(1, 3)), (NAMESPACES, Tally(3, 3))]
    assert counts.tally(NAMESPACES).complete


def test_done_never_passes_the_total_and_checks_can_go_down():
    counts = Counts()
    counts.expect(LINKS, 2)
    assert counts.add(LINKS, 5) == Tally(2, 2)
    counts.expect(CHECKS, 7)
    assert counts.set(CHECKS, 6) == Tally(6, 7)
    assert counts.set(CHECKS, 3) == Tally(3, 7)
    assert counts.set(CHECKS, -1) == Tally(0, 7)
    counts.set(CHECKS, 5)
    counts.expect(CHECKS, 2)            # fewer checks than before: done shrinks with the total
    assert counts.tally(CHECKS) == Tally(2, 2)


def test_nothing_to_count_is_not_complete_and_the_line_shows_only_expected_counts():
    counts = Counts()
    assert not counts.tally(READY).complete
    assert counts.line() == ""
    counts.expect(STARTED, 27)
    counts.add(STARTED, 20)
    counts.expect(NAMESPACES, 25)
    counts.add(NAMESPACES, 25)
    assert counts.line() == "namespaces 25/25 · daemons started 20/27"


def test_counting_from_many_threads_loses_nothing():
    counts = Counts()
    counts.expect(READY, 4000)
    threads = [threading.Thread(target=lambda: [counts.add(READY) for _ in range(500)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts.tally(READY) == Tally(4000, 4000)


@pytest.mark.parametrize("call", [lambda c: c.expect("bogus", 1), lambda c: c.add("links "),
                                  lambda c: c.set("", 1), lambda c: c.expect(LINKS, -1)])
def test_unknown_counts_and_negative_totals_are_refused(call):
    with pytest.raises(ValueError):
        call(Counts())


def test_every_count_has_a_name_the_bars_show():
    assert len(set(COUNTED)) == len(COUNTED) == 5
