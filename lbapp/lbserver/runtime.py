"""What the data plane reads on every request: the applied config as an immutable
``Snapshot`` (balancer, backend pools, timeouts), plus process-wide state (draining, ejections,
open connections) in ``Runtime``."""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping

from lbapp.algorithms import Balancer, make_balancer
from lbapp.config.schema import LBConfig
from lbapp.lbserver.http import (H_KEY, KEY_HEADER, KEY_NONE, REQUEST_HEADERS,
                                 REQUEST_HEADERS_WITH_XFP, LocalResponses, exact_case_table,
                                 key_source)
from lbapp.lbserver.contracts import InFlight
from lbapp.lbserver.settings import Settings
from lbapp.lbserver.stats import LOCAL, ClientStats, ConfigStats, RequestStats
from lbapp.lbserver.upstream import Backend, UpstreamConnection

log = logging.getLogger("lbapp.lbserver")


class Clock:
    """Coarse monotonic time (seconds), refreshed by the sweeper; cheap to read per request."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = time.monotonic()


class Snapshot:
    """One applied (config, health) pair. Never mutated; replaced whole on change."""

    __slots__ = ("config", "version", "health_revision", "applied_at", "balancer", "backends",
                 "unhealthy", "usable", "tracks_load", "key_kind", "key_header", "connect_timeout",
                 "response_timeout", "client_idle_timeout", "retry_attempts",
                 "outlier_failures", "ejection_seconds", "poll_seconds")

    def __init__(self, config: LBConfig, version: int, health_revision: int,
                 backends: dict[str, Backend], unhealthy: frozenset[str]) -> None:
        self.config = config
        self.version = version
        self.health_revision = health_revision
        self.applied_at = time.time()
        self.backends = backends
        self.unhealthy = unhealthy
        weights = config.effective_weights()
        healthy = [n for n in backends if n not in unhealthy]
        self.usable = sum(1 for n in healthy if weights[n] > 0)
        self.balancer = make_balancer(config, healthy=healthy)
        # Only balancers that count in-flight requests need on_start/on_finish per request.
        kind = type(self.balancer)
        self.tracks_load = (getattr(kind, "on_start", Balancer.on_start) is not Balancer.on_start
                            or getattr(kind, "on_finish", Balancer.on_finish)
                            is not Balancer.on_finish)
        if self.balancer.needs_key:
            self.key_kind, self.key_header = key_source(config.hash.key)
        else:
            self.key_kind, self.key_header = KEY_NONE, None
        t = config.timeouts
        self.connect_timeout = t.connect_ms / 1000
        self.response_timeout = t.response_ms / 1000
        self.client_idle_timeout = t.client_idle_ms / 1000
        self.retry_attempts = config.retries.attempts
        self.outlier_failures = config.outlier_detection.consecutive_failures
        self.ejection_seconds = config.outlier_detection.ejection_ms / 1000
        self.poll_seconds = config.poll_frequency / 1000


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = Clock()
        self.snapshot: Snapshot | None = None
        self.draining = False
        self.clients: set[InFlight] = set()   # client connections (proxy.ClientConnection)
        self.upstreams: set[UpstreamConnection] = set()
        self.client_stats = ClientStats()
        self.max_connections = settings.max_connections
        self.head_timeout = settings.request_head_timeout_ms / 1000
        # (deadline, client) of request heads being awaited, in deadline order (lbapp.slots)
        self.head_timers: deque[tuple[float, InFlight]] = deque()
        self.upstream_idle_timeout = settings.upstream_idle_timeout_ms / 1000
        self.upstream_max_idle = settings.upstream_max_idle
        self.retry_body_limit = settings.retry_body_buffer_bytes
        self.lb_line = b"X-LB: " + settings.name.encode() + b"\r\n"
        # The end of every proxied response head: X-LB, then the connection's fate (always
        # stated: a 1.0 client needs keep-alive spelled out).
        self.lb_keep_alive_end = self.lb_line + b"Connection: keep-alive\r\n\r\n"
        self.lb_close_end = self.lb_line + b"Connection: close\r\n\r\n"
        xfp = b"X-Forwarded-Proto: http\r\n" if settings.x_forwarded_proto else b""
        self.request_tail = xfp + b"\r\n"
        self.request_tail_chunked = b"Transfer-Encoding: chunked\r\n" + self.request_tail
        self._base_header_kinds = (REQUEST_HEADERS_WITH_XFP if settings.x_forwarded_proto
                                   else REQUEST_HEADERS)
        # How the proxy treats each request header: by lower-cased name, and by exact spelling.
        self.request_header_kinds: dict[bytes, int] = self._base_header_kinds
        self.request_header_exact = exact_case_table(self._base_header_kinds)
        self.local = LocalResponses(settings.name)
        self.request_stats: dict[str, RequestStats] = {LOCAL: RequestStats()}
        self.local_stats = self.request_stats[LOCAL]
        self.config_stats = ConfigStats()
        # Names passive outlier detection currently ejects; handed to pick() as ``exclude``.
        self.excluded: frozenset[str] = frozenset()
        self._pools: dict[tuple[str, str, int], Backend] = {}

    # -- readiness --------------------------------------------------------------------------
    def ready(self) -> bool:
        snap = self.snapshot
        return snap is not None and snap.usable > 0 and not self.draining

    def not_ready_reason(self) -> str:
        if self.draining:
            return "draining"
        if self.snapshot is None:
            return "no config loaded yet"
        if self.snapshot.usable == 0:
            return "no usable backend (all unhealthy or weight 0)"
        return ""

    # -- applying config --------------------------------------------------------------------
    def stats_for(self, name: str) -> RequestStats:
        stats = self.request_stats.get(name)
        if stats is None:
            stats = self.request_stats[name] = RequestStats()
        return stats

    def apply(self, config: LBConfig, version: int, health: Mapping[str, bool],
              health_revision: int) -> Snapshot:
        """Build and install a snapshot; pools of unchanged backends carry over."""
        backends: dict[str, Backend] = {}
        keep: dict[tuple[str, str, int], Backend] = {}
        for server in config.backend_servers:
            ident = (server.name, server.address, server.port)
            backend = self._pools.get(ident)
            if backend is None:
                backend = Backend(self, server.name, server.address, server.port,
                                  self.stats_for(server.name))
            backends[server.name] = keep[ident] = backend
        unhealthy = frozenset(name for name, ok in health.items() if not ok and name in backends)
        snap = Snapshot(config, version, health_revision, backends, unhealthy)
        for ident, backend in self._pools.items():
            if ident not in keep:
                backend.retire()
        self._pools = keep
        self._set_key_header(snap.key_header if snap.key_kind == KEY_HEADER else None)
        self.snapshot = snap
        self._carry_in_flight(snap)
        self.refresh_exclusions()
        return snap

    def _carry_in_flight(self, snap: Snapshot) -> None:
        """Requests in flight go on counting against their backend on the new balancer, so
        least_connections, power_of_two_choices and bounded load do not see every backend idle
        after each config or health change; their finish is then reported to the new one."""
        balancer = snap.balancer
        for client in self.clients:
            if client.in_attempt and client.balancer is not balancer:
                if snap.tracks_load:
                    balancer.on_start(client.backend.name)
                    client.balancer = balancer
                else:
                    client.in_attempt = False

    def _set_key_header(self, lname: bytes | None) -> None:
        kinds = self._base_header_kinds
        if lname is not None and lname not in kinds:  # a header the proxy rewrites cannot key
            kinds = {**kinds, lname: H_KEY}
        if kinds is not self.request_header_kinds:
            self.request_header_exact = exact_case_table(kinds)
            self.request_header_kinds = kinds

    # -- passive outlier detection ----------------------------------------------------------
    def eject(self, backend: Backend) -> None:
        snap = self.snapshot
        seconds = snap.ejection_seconds if snap is not None else 5.0
        backend.ejected_until = self.clock.now + seconds
        backend.stats.ejections += 1
        log.warning("backend %s (%s:%d) ejected for %.1f s after %d consecutive failures",
                    backend.name, backend.host, backend.port, seconds, backend.failures)
        self.refresh_exclusions()

    def refresh_exclusions(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        now = self.clock.now
        ejected = frozenset(name for name, b in snap.backends.items() if b.ejected_until > now)
        if ejected != self.excluded:
            for name in self.excluded - ejected:
                log.info("backend %s back from ejection", name)
            self.excluded = ejected

    def outlier_threshold(self) -> int:
        snap = self.snapshot
        return snap.outlier_failures if snap is not None else 3

    def backends_status(self) -> list[dict]:
        snap = self.snapshot
        if snap is None:
            return []
        now = self.clock.now
        return [{"name": name, "address": b.host, "port": b.port,
                 "healthy": name not in snap.unhealthy,
                 "ejected": b.ejected_until > now,
                 "idle_connections": len(b.idle), "connections": b.connection_count}
                for name, b in snap.backends.items()]
