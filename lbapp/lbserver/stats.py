"""Plain counters the data plane bumps (no locks, no Prometheus objects on the request path):
per backend name (``RequestStats``), of config sync (``ConfigStats``) and of client
connections (``ClientStats``). ``metrics`` turns them into metric families when scraped."""
from __future__ import annotations

from bisect import bisect_left

LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                  1.0, 2.5, 5.0, 10.0, 30.0)
LOCAL = "-"  # backend label of responses the LB generated itself (400, 503 ...)
CLIENT_CLOSED = 499  # code recorded when the client left before the response was complete
_MAX_CODE = 1000


class RequestStats:
    """Counters of one backend name (kept across config changes)."""

    __slots__ = ("codes", "buckets", "latency_sum", "retries", "connect_failures",
                 "timeouts", "ejections", "aborted")

    def __init__(self) -> None:
        self.codes = [0] * _MAX_CODE
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)
        self.latency_sum = 0.0
        self.retries = 0            # requests moved from this backend to another attempt
        self.connect_failures: dict[str, int] = {}  # by reason
        self.timeouts = 0
        self.ejections = 0
        self.aborted = 0            # responses cut off after they had started

    def observe(self, code: int, seconds: float) -> None:
        if code >= _MAX_CODE:
            code = 0
        self.codes[code] += 1
        self.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.latency_sum += seconds

    def failure(self, reason: str) -> None:
        self.connect_failures[reason] = self.connect_failures.get(reason, 0) + 1


class ConfigStats:
    """What config sync did: refreshes by (source, result), rejections, what is applied."""

    def __init__(self) -> None:
        self.refreshes: dict[tuple[str, str], int] = {}
        self.rejected = 0
        self.version = 0
        self.applied_at = 0.0     # wall clock, seconds
        self.health_revision = 0
        self.redis_connected = False
        self.etcd_ok = False

    def refreshed(self, source: str, result: str) -> None:
        key = (source, result)
        self.refreshes[key] = self.refreshes.get(key, 0) + 1


class ClientStats:
    """What happened to client connections (counters; the open ones are ``Runtime.clients``).

    ``rejected``: refused with 503 because every slot was taken by a connection that was not
    idle; ``evicted``: idle keep-alive connections closed to make room for new ones;
    ``timeouts``: connections closed by a client-side timer, by which (``request_head``: 408,
    the head did not arrive in time; ``keepalive_idle``: no request within the idle time)."""

    __slots__ = ("accepted", "rejected", "evicted", "timeouts", "rejected_requests")

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0
        self.evicted = 0
        self.timeouts = {"request_head": 0, "keepalive_idle": 0}
        # Malformed or refused requests by why (the reason word of RequestRejected).
        self.rejected_requests: dict[str, int] = {}

    def rejected_request(self, reason: str) -> None:
        self.rejected_requests[reason] = self.rejected_requests.get(reason, 0) + 1
