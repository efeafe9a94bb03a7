"""What every balancer shares: the usable backend pool and the Balancer interface."""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from lbapp.config.schema import LBConfig


@dataclass(frozen=True)
class Pool:
    """Backends a balancer may pick, in config order, with their (positive) weights."""

    names: tuple[str, ...]
    weights: tuple[int, ...]

    @classmethod
    def from_config(cls, config: LBConfig, healthy: Iterable[str] | None = None) -> "Pool":
        allowed = None if healthy is None else frozenset(healthy)
        weights = config.effective_weights()
        chosen = [(b.name, weights[b.name]) for b in config.backend_servers
                  if weights[b.name] > 0 and (allowed is None or b.name in allowed)]
        return cls(tuple(n for n, _ in chosen), tuple(w for _, w in chosen))


class Balancer:
    """Picks a backend name per request; see lbapp.algorithms for the contract."""

    needs_key = False

    def __init__(self, pool: Pool):
        self.backends: tuple[str, ...] = pool.names
        self.weights: tuple[int, ...] = pool.weights

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        raise NotImplementedError

    def on_start(self, name: str) -> None:
        pass

    def on_finish(self, name: str) -> None:
        pass

    def in_flight(self) -> dict[str, int]:
        """In-flight requests per backend, for balancers that track them (else empty)."""
        return {}


class LoadTracking(Balancer):
    """A balancer that counts in-flight requests per backend (on_start/on_finish)."""

    def __init__(self, pool: Pool):
        super().__init__(pool)
        self._index = {name: i for i, name in enumerate(pool.names)}
        self._load = [0] * len(pool.names)
        self._total = 0

    def on_start(self, name: str) -> None:
        i = self._index.get(name)
        if i is not None:
            self._load[i] += 1
            self._total += 1

    def on_finish(self, name: str) -> None:
        i = self._index.get(name)
        # Unknown names and unmatched finishes (a request started on a previous balancer) are
        # ignored rather than driving a count negative.
        if i is not None and self._load[i] > 0:
            self._load[i] -= 1
            self._total -= 1

    def in_flight(self) -> dict[str, int]:
        return {name: self._load[i] for name, i in self._index.items()}
