"""What bring-up reports while it works: one line per step (``message``) and counts of what is
done out of what there is to do (namespaces, links, daemons started and ready, convergence
checks passing), which `lblab up` draws as progress bars. Pure bookkeeping; thread-safe, since
daemons become ready in worker threads."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# what bring-up counts, in the order it happens
NAMESPACES = "namespaces"
LINKS = "links"
STARTED = "daemons started"
READY = "daemons ready"
CHECKS = "checks passing"
COUNTED = (NAMESPACES, LINKS, STARTED, READY, CHECKS)


@dataclass(frozen=True)
class Tally:
    done: int
    total: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


Listener = Callable[[str, Tally], None]


class Counts:
    """Counts by kind (one of COUNTED). ``expect`` sets a total, ``add`` counts what got done
    (never past the total), ``set`` replaces the done count (convergence checks can fail again);
    every change goes to the listener as (what, Tally)."""

    def __init__(self, listener: Listener | None = None):
        self._listener = listener
        self._lock = threading.Lock()
        self._done: dict[str, int] = {}
        self._total: dict[str, int] = {}

    def _check(self, what: str) -> None:
        if what not in COUNTED:
            raise ValueError(f"unknown count {what!r} (expected one of {', '.join(COUNTED)})")

    def _changed(self, what: str) -> Tally:
        tally = Tally(self._done.get(what, 0), self._total.get(what, 0))
        if self._listener is not None:
            self._listener(what, tally)
        return tally

    def expect(self, what: str, total: int) -> None:
        self._check(what)
        if total < 0:
            raise ValueError(f"{what}: a total cannot be negative ({total})")
        with self._lock:
            self._total[what] = total
            self._done[what] = min(self._done.get(what, 0), total)
            self._changed(what)

    def add(self, what: str, n: int = 1) -> Tally:
        self._check(what)
        with self._lock:
            self._done[what] = min(self._done.get(what, 0) + n, self._total.get(what, 0))
            return self._changed(what)

    def set(self, what: str, done: int) -> Tally:
        self._check(what)
        with self._lock:
            self._done[what] = max(0, min(done, self._total.get(what, 0)))
            return self._changed(what)

    def tally(self, what: str) -> Tally:
        with self._lock:
            return Tally(self._done.get(what, 0), self._total.get(what, 0))

    def line(self) -> str:
        """One line of every count with a total, e.g. 'namespaces 25/25 · links 45/45 · ...'."""
        with self._lock:
            return " · ".join(f"{what} {self._done.get(what, 0)}/{self._total[what]}"
                              for what in COUNTED if what in self._total)
