"""Prometheus metrics of one orchestrator member (plain numbers, families built at scrape time)."""
from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)
from prometheus_client.process_collector import ProcessCollector

LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RATE_WINDOW = 10.0  # seconds behind lbapp_orch_checks_per_second


class Histogram:
    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.total += seconds

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc)
        cumulative, points = 0, []
        for bound, count in zip(LATENCY_BOUNDS + (float("inf"),), self.buckets):
            cumulative += count
            points.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([], points, self.total)
        return family


class OrchestratorStats:
    def __init__(self, name: str) -> None:
        self.name = name
        self.is_leader = False
        self.term = 0                 # the term of the shard this member follows
        self.leader_term = 0          # this member's own term while it leads
        self.members = 0
        self.shard_size = 0
        self.lease_remaining = lambda: 0.0
        self.checks: dict[tuple[str, str], int] = {}      # (target, result) -> count
        self.check_latency = Histogram()
        self.check_lag = Histogram()
        self._recent: deque[float] = deque()
        self.backend_healthy: dict[str, bool] = {}
        self.health_writes: dict[str, int] = {}           # written / fenced / error
        self.publishes: dict[str, int] = {}               # ok / error
        self.assignment_writes = 0
        self.leader_terms = 0
        self.scale_decisions: dict[tuple[str, str], int] = {}  # (action, node) -> count
        self.scale_inputs: dict[str, float] = {}
        self.scale_reason = ""

    def count_check(self, target: str, ok: bool, reason: str, latency: float, lag: float) -> None:
        key = (target, "ok" if ok else reason)
        self.checks[key] = self.checks.get(key, 0) + 1
        self.check_latency.observe(latency)
        self.check_lag.observe(lag)
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and self._recent[0] < now - RATE_WINDOW:
            self._recent.popleft()

    def checks_per_second(self) -> float:
        now = time.monotonic()
        while self._recent and self._recent[0] < now - RATE_WINDOW:
            self._recent.popleft()
        return len(self._recent) / RATE_WINDOW

    @staticmethod
    def bump(counter: dict, key) -> None:
        counter[key] = counter.get(key, 0) + 1

    # -- prometheus_client collector ----------------------------------------------------------
    def describe(self):
        return []

    def collect(self):
        yield _gauge("lbapp_orch_is_leader", "1 while this member leads.", int(self.is_leader))
        yield _gauge("lbapp_orch_term", "Term (leader's election revision) this member follows.",
                     self.term)
        yield _gauge("lbapp_orch_members", "Live members, as the shard followed lists them.",
                     self.members)
        yield _gauge("lbapp_orch_shard_size", "Targets this member checks.", self.shard_size)
        yield _gauge("lbapp_orch_lease_remaining_seconds",
                     "Time this member may still act on its lease.", self.lease_remaining())
        yield _gauge("lbapp_orch_checks_per_second",
                     f"Checks completed over the last {RATE_WINDOW:g} s, per second.",
                     self.checks_per_second())
        checks = CounterMetricFamily("lbapp_orch_checks", "Health checks by target and result "
                                     "(ok, or the failure: timeout, refused, status 503 ...).",
                                     labels=["target", "result"])
        for (target, result), count in sorted(self.checks.items()):
            checks.add_metric([target, result], count)
        yield checks
        yield self.check_latency.family("lbapp_orch_check_duration_seconds",
                                        "From connect start to the check's verdict.")
        yield self.check_lag.family("lbapp_orch_check_lag_seconds",
                                    "How late checks started against their schedule.")
        healthy = GaugeMetricFamily("lbapp_orch_backend_healthy",
                                    "State of each target this member checks (1 healthy).",
                                    labels=["target"])
        for target, state in sorted(self.backend_healthy.items()):
            healthy.add_metric([target], int(state))
        yield healthy
        yield _labelled_counter("lbapp_orch_health_writes", "Health state changes written to "
                                "etcd: written, fenced (no longer ours), error.", "result",
                                self.health_writes)
        yield _labelled_counter("lbapp_orch_publishes", "Redis notifications of health "
                                "changes: ok, error.", "result", self.publishes)
        yield CounterMetricFamily("lbapp_orch_assignment_writes",
                                  "Shard assignments this member wrote as leader (one txn each).",
                                  value=self.assignment_writes)
        yield CounterMetricFamily("lbapp_orch_leader_terms", "Times this member became leader.",
                                  value=self.leader_terms)
        decisions = CounterMetricFamily("lbapp_orch_scale_decisions", "Scaling decisions "
                                        "acted on (activate, drain) and holds.",
                                        labels=["action", "node"])
        for (action, node), count in sorted(self.scale_decisions.items()):
            decisions.add_metric([action, node], count)
        yield decisions
        inputs = GaugeMetricFamily("lbapp_orch_scale_input", "Inputs of the last scaling "
                                   "decision (rps_per_node, cpu_per_node, active, ...).",
                                   labels=["input"])
        for name, value in sorted(self.scale_inputs.items()):
            inputs.add_metric([name], value)
        yield inputs


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled_counter(name: str, doc: str, label: str, values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, count in sorted(values.items()):
        family.add_metric([key], count)
    return family


def build_registry(stats: OrchestratorStats) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(stats)
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
