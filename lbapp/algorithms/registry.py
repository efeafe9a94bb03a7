"""Placeholder round robin so the LB server can be built against the contract; replaced by the
full algorithm set."""
from __future__ import annotations

from collections.abc import Collection, Iterable

from lbapp.config.schema import LBConfig


class Balancer:
    needs_key = False

    def __init__(self, names: list[str]):
        self._names = names
        self._next = 0

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        for _ in range(len(self._names)):
            name = self._names[self._next % len(self._names)]
            self._next += 1
            if name not in exclude:
                return name
        return None

    def on_start(self, name: str) -> None:
        pass

    def on_finish(self, name: str) -> None:
        pass


def make_balancer(config: LBConfig, healthy: Iterable[str] | None = None) -> Balancer:
    allowed = None if healthy is None else set(healthy)
    weights = config.effective_weights()
    names = [b.name for b in config.backend_servers
             if weights[b.name] > 0 and (allowed is None or b.name in allowed)]
    return Balancer(names)
