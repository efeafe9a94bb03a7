"""The LB servers as the console sees them: what each serves (``/-/status``), draining one
(``POST /-/drain``), and per-second request and error rates from their ``/metrics``.

Rates are computed here from the LB servers' own counters once a second (no Prometheus in the
way, so the live view is not a scrape interval behind)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger("lbapp.console.lbservers")
TIMEOUT = aiohttp.ClientTimeout(total=0.8)
LOCAL = "-"  # the backend label of responses an LB server made itself (lbapp.lbserver.metrics)


class LBServers:
    def __init__(self, lb_servers: dict[str, dict[str, str]]) -> None:
        self.lb_servers = lb_servers
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def nodes(self, lb_id: str) -> dict[str, str]:
        return self.lb_servers.get(lb_id, {})

    async def _get(self, url: str) -> tuple[int, bytes]:
        async with self.session().get(url) as resp:
            return resp.status, await resp.read()

    async def statuses(self, lb_id: str) -> list[dict[str, Any]]:
        async def one(node: str, url: str) -> dict[str, Any]:
            try:
                status, body = await self._get(url + "/-/status")
                doc = json.loads(body) if status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                return {"node": node, "reachable": False, "error": f"{type(exc).__name__}"}
            if not isinstance(doc, dict):
                return {"node": node, "reachable": False, "error": f"HTTP {status}"}
            config = doc.get("config") or {}
            return {"node": node, "reachable": True, "ready": doc.get("ready"),
                    "draining": doc.get("draining"), "version": config.get("version"),
                    "algorithm": config.get("algorithm"),
                    "etcd_reachable": doc.get("etcd_reachable"),
                    "redis_connected": doc.get("redis_connected")}
        nodes = self.nodes(lb_id)
        return list(await asyncio.gather(*(one(n, u) for n, u in sorted(nodes.items()))))

    async def drain(self, lb_id: str, node: str) -> str:
        url = self.nodes(lb_id)[node] + "/-/drain"
        try:
            async with self.session().post(url) as resp:
                return f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"not reached ({type(exc).__name__})"

    async def request_counts(self, url: str) -> dict[str, tuple[float, float]] | None:
        """backend -> (requests, errors) counted so far by one LB server; None if unreachable."""
        try:
            status, body = await self._get(url + "/metrics")
        except (aiohttp.ClientError, TimeoutError):
            return None
        if status != 200:
            return None
        counts: dict[str, list[float]] = {}
        for family in text_string_to_metric_families(body.decode("utf-8", "replace")):
            if family.name != "lbapp_lb_requests":
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                entry = counts.setdefault(sample.labels.get("backend", LOCAL), [0.0, 0.0])
                entry[0] += sample.value
                code = sample.labels.get("code", "0")
                if not code.isdigit() or int(code) >= 500 or int(code) == 0:
                    entry[1] += sample.value
        return {name: (c[0], c[1]) for name, c in counts.items()}


class LiveSampler:
    """Once a second: requests/s and errors/s per LB server and per backend; keeps the last
    ``keep`` points and hands each new one to every listener (the UI's event stream)."""

    def __init__(self, servers: LBServers, keep: int = 300, period: float = 1.0) -> None:
        self.servers, self.period = servers, period
        self.points: deque[dict] = deque(maxlen=keep)
        self.listeners: set[asyncio.Queue] = set()
        self._last: dict[tuple[str, str], tuple[float, dict]] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="live-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                point = await self.sample()
            except Exception:  # noqa: BLE001 - the live view must survive anything
                log.exception("live sample failed")
            else:
                self.points.append(point)
                for queue in list(self.listeners):
                    if queue.qsize() < 10:
                        queue.put_nowait(point)
            await asyncio.sleep(max(0.05, self.period - (time.monotonic() - started)))

    async def sample(self) -> dict:
        now = time.time()
        targets = [(lb_id, node, url) for lb_id, nodes in self.servers.lb_servers.items()
                   for node, url in sorted(nodes.items())]
        counts = await asyncio.gather(*(self.servers.request_counts(u) for _, _, u in targets))
        point: dict[str, Any] = {"t": round(now, 3), "lbs": {}, "backends": {}}
        for (lb_id, node, _), count in zip(targets, counts):
            lbs = point["lbs"].setdefault(lb_id, {})
            backends = point["backends"].setdefault(lb_id, {})
            previous = self._last.get((lb_id, node))
            if count is None:
                lbs[node] = {"up": False, "rps": 0.0, "errors": 0.0}
                self._last.pop((lb_id, node), None)
                continue
            self._last[(lb_id, node)] = (now, count)
            if previous is None:
                lbs[node] = {"up": True, "rps": None, "errors": None}
                continue
            elapsed = max(now - previous[0], 1e-3)
            total = [0.0, 0.0]
            for backend, (requests, errors) in count.items():
                before = previous[1].get(backend, (0.0, 0.0))
                rate = (max(0.0, requests - before[0]) / elapsed,
                        max(0.0, errors - before[1]) / elapsed)
                total[0] += rate[0]
                total[1] += rate[1]
                if backend != LOCAL:
                    sums = backends.setdefault(backend, {"rps": 0.0, "errors": 0.0})
                    sums["rps"] = round(sums["rps"] + rate[0], 2)
                    sums["errors"] = round(sums["errors"] + rate[1], 2)
            lbs[node] = {"up": True, "rps": round(total[0], 2), "errors": round(total[1], 2)}
        return point
