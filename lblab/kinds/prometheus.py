"""Prometheus: scrapes every lab daemon that has metrics."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from lblab.daemons.prometheus import Prometheus as PrometheusDaemon
from lblab.kinds.base import Check, Hazard, NodeKind
from lblab.kinds.registry import kind_of, register
from lblab.lab.supervised import HELD
from lblab.topology.model import NodeOptions


class PrometheusOptions(NodeOptions):
    role: Literal["prometheus"]
    scrape_interval_s: float = Field(default=1, ge=0.1, le=300)


def targets(lab) -> dict[str, str]:
    """job/node -> up, down, unknown, or held (a daemon kept stopped on purpose: a standby LB's)."""
    found: dict[str, str] = {}
    for daemon in lab.daemons_of_kind("prometheus"):
        try:
            found.update(daemon.targets_health())
        except OSError as exc:
            return {"error": str(exc)}
    for daemon in lab.all_daemons():
        target = f"{daemon.name}/{daemon.ctx.node}"
        if found.get(target, "up") != "up" and lab.daemon_state(daemon) == HELD:
            found[target] = HELD
    return found


@register
class Prometheus(NodeKind):
    role = "prometheus"
    options = PrometheusOptions
    summary = "scrapes every daemon with metrics"

    def daemons(self, ctx):
        targets = [daemon for node, spec in ctx.topo.nodes.items() if spec.role != self.role
                   for daemon in kind_of(spec.role).daemons(ctx.peer(node))]
        return [PrometheusDaemon(ctx, targets)]

    def converge_checks(self, lab) -> list[Check]:
        health = targets(lab)
        logs = lab.logs_of([(n, "prometheus") for n in lab.node_names("prometheus")])
        if "error" in health:
            return [Check("prometheus", False, health["error"], logs)]
        down = sorted(t for t, h in health.items() if h not in ("up", HELD))
        return [Check("prometheus", bool(health) and not down,
                      f"{len(health)} targets up" if health and not down
                      else f"targets not up: {', '.join(down) or 'none scraped yet'}", logs)]

    def converged(self, lab) -> None:
        for daemon in lab.daemons_of_kind("prometheus"):
            daemon.settle()

    def status(self, lab) -> dict:
        return {"prometheus_targets": targets(lab)}

    def hazards(self, lab, node: str) -> list[Hazard]:
        """Monitoring lost: nothing the LB's users depend on."""
        return [Hazard("kill", {"node": node, "daemon": "prometheus"})]

    def fault_budget(self, lab) -> int:
        return len(lab.node_names("prometheus"))

    def render_status(self, data: dict, console) -> None:
        found = data.get("prometheus_targets")
        if not found:
            return
        if "error" in found:
            console.print(f"Prometheus: [red]{found['error']}[/]")
            return
        down = [t for t, h in found.items() if h not in ("up", HELD)]
        held = [t for t, h in found.items() if h == HELD]
        console.print(f"Prometheus: {len(found) - len(down) - len(held)}/{len(found)} targets up"
                      + (f" ([red]down: {', '.join(down)}[/])" if down else "")
                      + (f" (held stopped: {', '.join(held)})" if held else ""))
