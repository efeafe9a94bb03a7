"""The rise/fall state machine, atomic state files and the fixed-rate watch loop."""
from __future__ import annotations

import os

import pytest

from lbapp.healthwatch import RiseFall, Watcher, write_atomic


def feed(state: RiseFall, results: str) -> list[bool]:
    """Feed '+'/'-' results; the state after each."""
    seen = []
    for ch in results:
        state.observe(ch == "+")
        seen.append(state.up)
    return seen


def test_starts_down_and_rises_on_the_rise_th_pass_in_a_row():
    state = RiseFall(rise=3, fall=2)
    assert feed(state, "+++") == [False, False, True]


def test_a_failure_between_passes_restarts_the_rise_count():
    state = RiseFall(rise=3, fall=2)
    assert feed(state, "++-++") == [False] * 5
    assert feed(state, "+") == [True]


def test_falls_on_the_fall_th_failure_in_a_row_and_a_pass_resets_it():
    state = RiseFall(rise=1, fall=2, up=True)
    assert feed(state, "-+-") == [True, True, True]
    assert feed(state, "-") == [False]


def test_observe_reports_only_flips():
    state = RiseFall(rise=2, fall=1)
    assert [state.observe(ok) for ok in (True, True, True, False, False, True)] == [
        False, True, False, True, False, False]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2", None])
def test_rise_and_fall_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="rise must be an integer >= 1"):
        RiseFall(rise=bad, fall=1)
    with pytest.raises(ValueError, match="fall must be an integer >= 1"):
        RiseFall(rise=1, fall=bad)


def test_write_atomic_replaces_the_file_by_rename_and_leaves_no_temp(tmp_path):
    target = tmp_path / "state"
    target.write_text("old")
    inode = target.stat().st_ino
    write_atomic(target, "1\n")
    assert target.read_text() == "1\n"
    assert target.stat().st_ino != inode          # a new file moved in, not rewritten in place
    assert os.listdir(tmp_path) == ["state"]


def test_write_atomic_into_a_missing_directory_fails_loudly(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "state", "1\n")


class ScriptedWatcher(Watcher):
    """Check results from a script; stops itself when the script runs out."""

    def __init__(self, results: str, **kw):
        super().__init__(**kw)
        self.results = list(results)
        self.events: list[str] = []

    def check(self):
        ok = self.results.pop(0) == "+"
        if not self.results:
            self.stopping = True
        return ok, "pass" if ok else "fail"

    def changed(self, detail):
        self.events.append(("up " if self.state.up else "down ") + detail)

    def started(self):
        self.events.append("started")

    def stopped(self):
        self.events.append("stopped")


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_watcher_acts_on_flips_only_and_runs_its_hooks_in_order():
    watcher = ScriptedWatcher("++-+--+", interval=0.05, rise=2, fall=2)
    clock = FakeClock()
    assert watcher.run(clock=clock, sleep=clock.sleep) == 0
    assert watcher.events == ["started", "up pass", "down fail", "stopped"]


def test_watcher_keeps_a_fixed_rate_and_does_not_catch_up_late_ticks():
    watcher = ScriptedWatcher("++++", interval=0.05, rise=1, fall=1)
    clock = FakeClock()
    real_check = watcher.check

    def slow_second_check():
        if len(watcher.results) == 3:      # the second check takes 0.12 s (over two intervals)
            clock.now += 0.12
        return real_check()

    watcher.check = slow_second_check
    watcher.run(clock=clock, sleep=clock.sleep)
    # four checks, three sleeps: none after the slow one (the schedule restarts from then on, with
    # no burst of catch-up checks), one interval after each of the others
    assert clock.sleeps == [0.05, 0.05, 0.05]


def test_watcher_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval"):
        ScriptedWatcher("+", interval=0, rise=1, fall=1)
