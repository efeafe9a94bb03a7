"""Prometheus metrics of the LB server.

The request path only bumps plain Python integers (``lbapp.lbserver.stats``); the metric
families are built from them when Prometheus scrapes (``LBCollector``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)
from prometheus_client.process_collector import ProcessCollector

from lbapp.lbserver.slots import connection_states
from lbapp.lbserver.stats import LATENCY_BOUNDS, LOCAL

if TYPE_CHECKING:
    from lbapp.lbserver.runtime import Runtime


class LBCollector:
    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime

    def describe(self):
        return []

    def collect(self):
        rt = self.runtime
        lb = rt.settings.name
        info = GaugeMetricFamily("lbapp_lb_info", "LB server identity.", labels=["lb", "lb_id"])
        info.add_metric([lb, rt.settings.lb_id], 1)
        yield info

        requests = CounterMetricFamily("lbapp_lb_requests",
                                       "Client requests answered, by backend and status code.",
                                       labels=["backend", "code"])
        latency = HistogramMetricFamily("lbapp_lb_request_duration_seconds",
                                        "Time from request head to the end of the response.",
                                        labels=["backend"])
        retries = CounterMetricFamily("lbapp_lb_upstream_retries",
                                      "Requests retried away from a backend after a failure.",
                                      labels=["backend"])
        failures = CounterMetricFamily("lbapp_lb_upstream_failures",
                                       "Failed upstream attempts by reason (refused, timeout, "
                                       "reset, stale, protocol, response_timeout).",
                                       labels=["backend", "reason"])
        ejections = CounterMetricFamily("lbapp_lb_ejections",
                                        "Passive outlier ejections.", labels=["backend"])
        aborted = CounterMetricFamily("lbapp_lb_responses_aborted",
                                      "Responses cut off after they had started.",
                                      labels=["backend"])
        for name, stats in sorted(rt.request_stats.items()):
            for code, count in enumerate(stats.codes):
                if count:
                    requests.add_metric([name, str(code)], count)
            cumulative, buckets = 0, []
            for bound, count in zip(LATENCY_BOUNDS + (float("inf"),), stats.buckets):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            if cumulative:
                latency.add_metric([name], buckets, stats.latency_sum)
            if name == LOCAL:
                continue
            retries.add_metric([name], stats.retries)
            ejections.add_metric([name], stats.ejections)
            aborted.add_metric([name], stats.aborted)
            for reason, count in sorted(stats.connect_failures.items()):
                failures.add_metric([name, reason], count)
        yield from (requests, latency, retries, failures, ejections, aborted)

        yield from _client_families(rt)
        yield _gauge("lbapp_lb_ready", "1 while /-/ready answers 200.", int(rt.ready()))
        yield _gauge("lbapp_lb_draining", "1 once draining has started.", int(rt.draining))

        snap = rt.snapshot
        healthy = GaugeMetricFamily("lbapp_lb_backend_healthy",
                                    "Health as last read from etcd (1 healthy).",
                                    labels=["backend"])
        ejected = GaugeMetricFamily("lbapp_lb_backend_ejected",
                                    "1 while passive outlier detection ejects the backend.",
                                    labels=["backend"])
        pool = GaugeMetricFamily("lbapp_lb_upstream_connections",
                                 "Upstream connections by state.", labels=["backend", "state"])
        if snap is not None:
            now = rt.clock.now
            for name, backend in sorted(snap.backends.items()):
                healthy.add_metric([name], int(name not in snap.unhealthy))
                ejected.add_metric([name], int(backend.ejected_until > now))
                pool.add_metric([name, "idle"], len(backend.idle))
                pool.add_metric([name, "busy"], backend.connection_count - len(backend.idle))
        yield from (healthy, ejected, pool)

        cs = rt.config_stats
        refreshes = CounterMetricFamily("lbapp_lb_config_refreshes",
                                        "Config reads from etcd by trigger and result.",
                                        labels=["source", "result"])
        for (source, result), count in sorted(cs.refreshes.items()):
            refreshes.add_metric([source, result], count)
        yield refreshes
        yield _counter("lbapp_lb_config_rejected",
                       "Config versions that failed validation (each counted once).",
                       cs.rejected)
        yield _gauge("lbapp_lb_config_version", "etcd mod_revision of the applied config.",
                     cs.version)
        yield _gauge("lbapp_lb_config_applied_timestamp_seconds",
                     "Wall-clock time the current config (or health) was applied.",
                     cs.applied_at)
        yield _gauge("lbapp_lb_config_age_seconds", "Seconds since the config was applied.",
                     time.time() - cs.applied_at if cs.applied_at else 0.0)
        yield _gauge("lbapp_lb_redis_connected", "1 while subscribed to the config channel.",
                     int(cs.redis_connected))
        yield _gauge("lbapp_lb_etcd_reachable", "1 if the last etcd read succeeded.",
                     int(cs.etcd_ok))


def _client_families(rt: "Runtime"):
    """Client connections and their slots: exhaustion shows as ``..._rejected`` rising (every
    slot taken by a connection that was not idle), ``..._evicted`` (idle ones closed to make
    room) and the states of the open ones against ``..._limit``."""
    stats = rt.client_stats
    yield _gauge("lbapp_lb_client_connections", "Open client connections.", len(rt.clients))
    yield _gauge("lbapp_lb_client_connections_limit", "Client connection slots "
                 "(max_connections).", rt.max_connections)
    yield _by_label(GaugeMetricFamily, "lbapp_lb_client_connection_states",
                    "Open client connections by state (busy: a request in progress, head: a "
                    "request head awaited or being read, idle: keep-alive, closing: lingering "
                    "after an error response).", "state",
                    connection_states(rt))
    yield _counter("lbapp_lb_client_connections_accepted", "Client connections accepted.",
                   stats.accepted)
    yield _counter("lbapp_lb_client_connections_rejected",
                   "Client connections refused (503) because every slot was busy.",
                   stats.rejected)
    yield _counter("lbapp_lb_client_connections_evicted",
                   "Idle client connections closed to make room for new ones.", stats.evicted)
    yield _by_label(CounterMetricFamily, "lbapp_lb_client_timeouts",
                    "Client connections closed by a timer (request_head: 408).", "timeout",
                    stats.timeouts)
    yield _by_label(CounterMetricFamily, "lbapp_lb_requests_rejected",
                    "Requests refused as malformed or unsafe to forward.", "reason",
                    stats.rejected_requests)


def _by_label(kind, name: str, doc: str, label: str, counts: dict[str, int]):
    family = kind(name, doc, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def build_registry(runtime: "Runtime") -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(LBCollector(runtime))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
