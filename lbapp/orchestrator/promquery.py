"""The load of each LB node, from Prometheus' HTTP API (PromQL over the LB servers' own metrics:
lbapp.lbserver.metrics). Prometheus' answer is external input: anything but a well-formed
instant vector is an error naming the query, and no partial answer is used."""
from __future__ import annotations

import math

import aiohttp

from lbapp.orchestrator.autoscale import NodeLoad

# name -> PromQL template; {sel} is the label selector, {w} the rate window, {by} the node label
QUERIES = {
    "rps": "sum by ({by}) (rate(lbapp_lb_requests_total{{{sel}}}[{w}s]))",
    "cpu": "sum by ({by}) (rate(process_cpu_seconds_total{{{sel}}}[{w}s]))",
    "connections": "sum by ({by}) (lbapp_lb_client_connections{{{sel}}})",
}


class PromError(Exception):
    pass


def render_queries(selector: str, window_s: int, node_label: str) -> dict[str, str]:
    return {name: text.format(sel=selector, w=window_s, by=node_label)
            for name, text in QUERIES.items()}


def parse_vector(doc: object, node_label: str, query: str) -> dict[str, float]:
    """An /api/v1/query answer -> {node: value}; PromError unless it is a clean instant vector."""
    if not isinstance(doc, dict):
        raise PromError(f"{query}: answer is not a JSON object")
    if doc.get("status") != "success":
        raise PromError(f"{query}: {doc.get('errorType', 'error')}: "
                        f"{str(doc.get('error', 'no error message'))[:200]}")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" \
            or not isinstance(data.get("result"), list):
        raise PromError(f"{query}: expected an instant vector")
    out: dict[str, float] = {}
    for sample in data["result"]:
        try:
            node = sample["metric"][node_label]
            _, text = sample["value"]
            value = float(text)
        except (KeyError, TypeError, ValueError) as exc:
            raise PromError(f"{query}: malformed sample {str(sample)[:120]}: {exc}") from None
        if not isinstance(node, str) or not isinstance(text, str):
            raise PromError(f"{query}: malformed sample {str(sample)[:120]}")
        if math.isfinite(value):  # NaN: no data yet for this node (e.g. 0/0 rates)
            out[node] = value
    return out


def combine(values: dict[str, dict[str, float]]) -> dict[str, NodeLoad]:
    """Per-query answers -> load per node that has every measurement."""
    nodes = set.intersection(*(set(v) for v in values.values())) if values else set()
    return {node: NodeLoad(rps=values["rps"][node], cpu=values["cpu"][node],
                           connections=values["connections"][node]) for node in nodes}


class PromClient:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/") + "/api/v1/query"
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def query(self, promql: str, node_label: str) -> dict[str, float]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.get(self.url, params={"query": promql}) as resp:
                if resp.content_length and resp.content_length > 4 << 20:
                    raise PromError(f"{promql}: answer too large")
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PromError(f"{promql}: {type(exc).__name__}: {exc}") from None
        return parse_vector(doc, node_label, promql)

    async def loads(self, queries: dict[str, str], node_label: str) -> dict[str, NodeLoad]:
        return combine({name: await self.query(q, node_label) for name, q in queries.items()})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
