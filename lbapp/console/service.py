"""The console's operations, shared by the JSON API and the web UI: views of the LBs, and the
one write path (read -> version check -> edit -> schema -> guarded txn + audit -> publish)."""
from __future__ import annotations

import asyncio
from typing import Any

from lbapp.config.schema import LBConfig
from lbapp.console import edits
from lbapp.console.edits import EditError
from lbapp.console.lbservers import LBServers, LiveSampler
from lbapp.console.metrics import ConsoleMetrics
from lbapp.console.store import Store, Stored, Written


class Console:
    def __init__(self, store: Store, servers: LBServers, metrics: ConsoleMetrics) -> None:
        self.store, self.servers, self.metrics = store, servers, metrics
        self.sampler = LiveSampler(servers)

    async def close(self) -> None:
        await self.sampler.stop()
        await self.store.close()
        await self.servers.close()

    # -- views ----------------------------------------------------------------------------------
    async def overview(self) -> list[dict[str, Any]]:
        lbs = await self.store.lbs()
        statuses = await asyncio.gather(*(self.servers.statuses(s.lb_id) for s in lbs))
        return [self._summary(stored, servers) for stored, servers in zip(lbs, statuses)]

    def _summary(self, stored: Stored, servers: list[dict]) -> dict[str, Any]:
        for server in servers:
            server["serves_current"] = server.get("version") == stored.version
        return {"lb_id": stored.lb_id, "version": stored.version,
                "algorithm": stored.doc.get("algorithm", "round_robin"),
                "backends": edits.backend_names(stored.doc), "servers": servers,
                "all_serving": bool(servers) and all(s["serves_current"] for s in servers)}

    async def detail(self, lb_id: str) -> dict[str, Any]:
        stored = await self.store.lb(lb_id)
        servers, health, drained = await asyncio.gather(
            self.servers.statuses(lb_id), self.store.health(lb_id), self.store.drained(lb_id))
        view = self._summary(stored, servers)
        view["config"] = stored.doc
        try:
            weights = LBConfig.model_validate(stored.doc).effective_weights()
        except ValueError:
            weights = {}
        view["backend_details"] = [
            {"name": name, "weight": weights.get(name),
             "health": (health[name].get("healthy") if name in health else None),
             "checked_by": (health[name].get("by") if name in health else None)}
            for name in edits.backend_names(stored.doc)]
        view["drained"] = drained
        return view

    # -- the write path -------------------------------------------------------------------------
    async def change(self, lb_id: str, edit: edits.Edit, expected_version: int, who: str,
                     action: str) -> Written:
        try:
            stored = await self.store.lb(lb_id)
            if expected_version != stored.version:
                raise EditError(409, "If-Match", f"stale version {expected_version}: the config "
                                f"of {lb_id!r} is at version {stored.version}; read it again",
                                reason="stale_version")
            new_doc = edit(stored.doc)
            edits.validate(new_doc)
            written = await self.store.write(stored, new_doc, who, action)
        except EditError as exc:
            self.metrics.rejects.labels(exc.reason).inc()
            raise
        self.metrics.writes.labels(lb_id, action.split()[0]).inc()
        if written.subscribers is None:
            self.metrics.publish_failures.inc()
        else:
            self.metrics.publish.observe(written.publish_seconds)
        return written

    async def set_drain(self, lb_id: str, node: str, drained: bool, who: str) -> dict[str, Any]:
        await self.store.lb(lb_id)  # 404 for an unknown LB
        if node not in self.servers.nodes(lb_id):
            self.metrics.rejects.labels("unknown_node").inc()
            raise EditError(404, "node", f"unknown LB server {node!r} of {lb_id!r} (have: "
                            f"{', '.join(sorted(self.servers.nodes(lb_id))) or 'none'})",
                            reason="unknown_node")
        revision = await self.store.set_drain(lb_id, node, drained, who)
        self.metrics.writes.labels(lb_id, "drain" if drained else "undrain").inc()
        result: dict[str, Any] = {"lb_id": lb_id, "node": node, "drained": drained,
                                  "revision": revision}
        if drained:
            result["lb_server"] = await self.servers.drain(lb_id, node)
        return result
