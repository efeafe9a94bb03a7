"""Request counters of the backend app, exposed in Prometheus text format.

Plain integers on the request path; prometheus-client only builds the families at scrape time.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest, CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector


class BackendStats:
    def __init__(self, name: str, routes: tuple[str, ...]) -> None:
        self.name = name
        self.routes = routes
        self.requests: dict[tuple[str, int], int] = {}
        self.connections = 0  # set by the server before each scrape
        self.registry = CollectorRegistry()
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def count(self, route: str, code: int) -> None:
        key = (route, code)
        self.requests[key] = self.requests.get(key, 0) + 1

    def collect(self):
        requests = CounterMetricFamily(
            "lbapp_backend_requests", "Requests answered, by route and status code.",
            labels=["backend", "route", "code"])
        for (route, code), value in sorted(self.requests.items()):
            requests.add_metric([self.name, route, str(code)], value)
        yield requests
        conns = GaugeMetricFamily("lbapp_backend_connections", "Open client connections.",
                                  labels=["backend"])
        conns.add_metric([self.name], self.connections)
        yield conns

    def describe(self):
        return []

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
