"""Prometheus metrics of the console (served on its own /metrics)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ConsoleMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lbapp_console_requests", "HTTP requests served, by route.",
                                ["method", "route", "code"], registry=self.registry)
        self.writes = Counter("lbapp_console_writes", "Changes written to etcd.",
                              ["lb_id", "action"], registry=self.registry)
        self.rejects = Counter("lbapp_console_rejects", "Writes refused, by reason.",
                               ["reason"], registry=self.registry)
        self.publish = Histogram("lbapp_console_publish_seconds",
                                 "Time to publish a change on Redis.",
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25, 0.5, 1.0), registry=self.registry)
        self.publish_failures = Counter("lbapp_console_publish_failures",
                                        "Publishes that failed (LBs see the change at their "
                                        "next poll).", registry=self.registry)
