"""What the lab's health watchers share (the anycast announcer, the DNS watch): a check runs at a
fixed rate, `rise` passes / `fall` failures in a row turn its results into an up/down state, and
the watcher acts only when that state changes. Its state is published by atomic file replace."""
from __future__ import annotations

import argparse
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class RiseFall:
    """Debounced up/down state: starts down; `rise` passes in a row bring it up, `fall` failures in
    a row take it down. A result agreeing with the current state resets the count."""

    rise: int
    fall: int
    up: bool = False
    streak: int = 0

    def __post_init__(self) -> None:
        for name in ("rise", "fall"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    def observe(self, ok: bool) -> bool:
        """Record one check result; True when it flips the state."""
        if ok == self.up:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak < (self.rise if ok else self.fall):
            return False
        self.up, self.streak = ok, 0
        return True


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` in one rename: a reader sees the old or the new content, never a
    partial one, and an inotify watcher on the directory sees IN_MOVED_TO for `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _whole_number(text: str, low: int, high: int, unit: str = "", unit_short: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        of_unit = f" of {unit}" if unit else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{of_unit}") from None
    if not low <= value <= high:
        suffix = f" {unit_short}" if unit_short else ""
        raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}{suffix}")
    return value


def milliseconds(text: str) -> float:
    """argparse type: a whole number of milliseconds in 1..60000, returned in seconds."""
    return _whole_number(text, 1, 60_000, "milliseconds", "ms") / 1000


def count(text: str) -> int:
    """argparse type: a whole number in 1..100 (rise, fall)."""
    return _whole_number(text, 1, 100)


def add_timing_options(parser: argparse.ArgumentParser, *, interval_ms: int, timeout_ms: int,
                       rise: int, fall: int) -> None:
    """--interval-ms/--timeout-ms (as args.interval/args.timeout, in seconds), --rise, --fall."""
    parser.add_argument("--interval-ms", dest="interval", type=milliseconds, default=interval_ms / 1000,
                        help=f"time between checks (default {interval_ms})")
    parser.add_argument("--timeout-ms", dest="timeout", type=milliseconds, default=timeout_ms / 1000,
                        help=f"a check without an answer by then fails (default {timeout_ms})")
    parser.add_argument("--rise", type=count, default=rise, help=f"passes in a row for up (default {rise})")
    parser.add_argument("--fall", type=count, default=fall,
                        help=f"failures in a row for down (default {fall})")


def log(message: str) -> None:
    now = time.time()
    print(f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now * 1000) % 1000:03d} {message}",
          flush=True)


class Watcher:
    """Runs `check()` every `interval` seconds (fixed rate; a late tick is not caught up) and calls
    `changed(detail)` when rise/fall flips `self.state.up`. Subclasses add `started()`,
    `stopped()` (called on SIGTERM/SIGINT) and `ticked()` (after every check)."""

    def __init__(self, interval: float, rise: int, fall: int):
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self.interval = interval
        self.state = RiseFall(rise, fall)
        self.stopping = False

    def check(self) -> tuple[bool, str]:
        raise NotImplementedError

    def changed(self, detail: str) -> None:
        raise NotImplementedError

    def started(self) -> None:
        pass

    def stopped(self) -> None:
        pass

    def ticked(self) -> None:
        pass

    def tick(self) -> None:
        ok, detail = self.check()
        if self.state.observe(ok):
            self.changed(detail)
        self.ticked()

    def run(self, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.started()
        next_tick = clock()
        while not self.stopping:
            self.tick()
            next_tick += self.interval
            delay = next_tick - clock()
            if delay > 0:
                sleep(delay)
            else:
                next_tick = clock()
        self.stopped()
        return 0

    def _stop(self, *_) -> None:
        self.stopping = True
