"""What the data plane's parts use of each other, as typing Protocols (nothing here runs).

The parts call each other both ways (a client connection starts attempts on a backend pool;
an upstream connection reports back to the client it serves; the runtime carries in-flight
counts of client connections to a new balancer), but they import each other one way only:
``proxy`` -> ``runtime`` -> ``upstream`` -> (``http``, ``stats``, this module)."""
from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Ticking(Protocol):
    now: float  # coarse monotonic seconds, refreshed by the sweeper


class PoolOwner(Protocol):
    """What backend pools and upstream connections use of the ``Runtime``."""

    clock: Ticking
    upstream_max_idle: int
    upstreams: set[Any]
    draining: bool
    lb_close_end: bytes
    lb_keep_alive_end: bytes

    def outlier_threshold(self) -> int: ...

    def eject(self, backend: Any) -> None: ...


class UpstreamClient(Protocol):
    """What an upstream connection uses of the client connection it serves."""

    transport: asyncio.Transport
    connect_token: int
    response_timeout: float
    req_done: bool
    close_after: bool
    is_head: bool
    status: int

    def can_chunk(self) -> bool: ...

    def upstream_connected(self, conn: Any) -> None: ...

    def upstream_failed(self, conn: Any, reason: str, got_bytes: bool) -> None: ...

    def upstream_broken(self) -> None: ...

    def exchange_done(self, code: int) -> None: ...

    def block_reading_for_upstream(self, blocked: bool) -> None: ...


class Named(Protocol):
    name: str


class InFlight(Protocol):
    """What the runtime uses of a client connection: its attempt in progress, if any."""

    in_attempt: bool
    balancer: Any
    backend: Named | None
