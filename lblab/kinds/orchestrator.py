"""Orchestrators: the control-plane cluster (leader election, sharded health checks of every
backend, scaling the LB tier from Prometheus). Every member of a lab runs with the same
settings, fast ones by default (checks every 200 ms, a 1 s lease: etcd runs with a 50 ms
heartbeat and a 500 ms election timeout so that a 1 s TTL holds)."""
from __future__ import annotations

import ipaddress
import time
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from lbapp import keys
from lbapp.documents import validation_problems
from lbapp.orchestrator.autoscale import ScalePolicy
from lbapp.orchestrator.settings import HealthCheckSettings
from lbapp.orchestrator.values import DesiredState, HealthValue, Shard, dump_value
from lblab.daemons.orchestrator import Orchestrator as OrchestratorDaemon
from lblab.kinds.base import Check, Hazard, NodeKind, Problem, not_ready
from lblab.kinds.registry import register
from lblab.lab import etcdread, orchview
from lblab.lab.errors import LabError
from lblab.topology.model import NodeOptions, StrictModel, Topology, initial_lb_config

LAB_CHECKS = HealthCheckSettings(interval_ms=200, timeout_ms=150, rise=2, fall=2)
# per active LB: above the 100 requests/s each of the three gets in every other scenario (300 in
# all), so only a load spike scales; the floor (min_active: the topology's active LBs) keeps the
# idle lab as it is
LAB_POLICY: dict[str, float] = {"scale_up_rps": 130, "scale_down_rps": 90, "scale_up_cpu": 0.9,
                                "scale_down_cpu": 0.6, "cooldown_s": 10}


class AutoscaleOptions(StrictModel):
    interval_s: float = Field(default=1.0, ge=0.2, le=60)
    rate_window_s: int = Field(default=5, ge=2, le=300)
    policy: dict[str, Any] = Field(default_factory=dict, description=(
        "lbapp ScalePolicy fields over the lab's; min_active and max_active default to the "
        "topology's active LBs and all its LBs"))

    def scale_policy(self, topo: Topology) -> ScalePolicy:
        """The policy the leader runs (ValidationError naming the field if it cannot be)."""
        lbs = topo.nodes_of("lb")
        derived = {"min_active": max(1, sum(not spec.standby for spec in lbs.values())),
                   "max_active": max(1, len(lbs))}
        return ScalePolicy.model_validate({**derived, **LAB_POLICY, **self.policy})


class OrchestratorOptions(NodeOptions):
    role: Literal["orchestrator"]
    metrics_port: int = Field(default=9300, ge=1, le=65535)
    lease_ttl_s: int = Field(default=1, ge=1, le=60)
    health_check: HealthCheckSettings = Field(default=LAB_CHECKS, description=(
        "interval_ms, timeout_ms, rise, fall over the lab's 200 / 150 / 2 / 2"))
    autoscale: AutoscaleOptions | None = AutoscaleOptions()

    @field_validator("health_check", mode="before")
    @classmethod
    def _over_lab_checks(cls, value: Any) -> Any:
        return {**LAB_CHECKS.model_dump(), **value} if isinstance(value, dict) else value


SHARED = ("lease_ttl_s", "health_check", "autoscale")   # one cluster: every member alike


def unreachable_backends(topo: Topology, name: str) -> list[Problem]:
    """Backends of the seeded LB configs on no LAN of this member: its health checks would find
    them unreachable and take every one out of rotation (members route nowhere)."""
    mine = {ipaddress.ip_interface(f"{addr}/{topo.lans[lan].prefixlen}").network
            for lan, addr in topo.nodes[name].interfaces.items() if lan in topo.lans}
    missed = [f"{server['name']} ({server['address']}, LB {lb_id})" for lb_id in topo.lb_ids()
              for server in initial_lb_config(topo, lb_id).get("backend_servers", [])
              if not any(ipaddress.ip_address(server["address"]) in net for net in mine)]
    if not missed:
        return []
    return [(f"nodes.{name}.interfaces", f"on no LAN of backend(s) {', '.join(missed)}: its health "
                                          "checks could not reach them")]


def wanted_states(topo: Topology) -> dict[str, str]:
    """LB node -> the state it has in the topology (what heal puts back)."""
    return {node: "standby" if spec.standby else "active" for node, spec in topo.nodes_of("lb").items()}


def cluster_checks(lab, view: orchview.OrchView) -> list[Check]:
    logs = lab.logs_of([(n, "orchestrator") for n in lab.node_names("orchestrator")])
    nodes = sorted(lab.node_names("orchestrator"))
    leader_ok = view.leader in nodes and view.members == nodes
    checks = [Check("orchestrator leader", leader_ok,
                    f"{view.leader} leads term {view.term}; members {', '.join(view.members)}" if leader_ok
                    else f"leader {view.leader or 'none'}; members {', '.join(view.members) or 'none'} "
                         f"(want {', '.join(nodes)})", logs)]
    stale = [m for m, s in view.shards.items() if not isinstance(s, Shard) or s.term != view.term]
    missing = [m for m in view.members if m not in view.shards]
    shards_ok = leader_ok and not stale and not missing and bool(view.assigned())
    checks.append(Check("orchestrator shards", shards_ok,
                        f"{len(view.assigned())} targets over {len(view.shards)} members" if shards_ok
                        else f"not of term {view.term}: {', '.join(stale + missing) or 'no targets'}", logs))
    sick = sorted(b for b, h in view.health.items() if not (isinstance(h, HealthValue) and h.healthy))
    checks.append(Check("backend health", not sick, "every backend healthy" if not sick
                        else f"not healthy in etcd: {', '.join(sick)}", logs))
    return checks


@register
class Orchestrator(NodeKind):
    role = "orchestrator"
    options = OrchestratorOptions
    summary = "control-plane member: leader election, health checks, scaling"

    def daemons(self, ctx):
        return [OrchestratorDaemon(ctx)]

    def problems(self, topo: Topology, name: str, spec: OrchestratorOptions) -> list[Problem]:
        problems = unreachable_backends(topo, name)
        where = f"nodes.{name}.autoscale"
        if spec.autoscale is None:
            return problems
        if not topo.nodes_of("prometheus"):
            problems.append((where, "scaling needs a prometheus node (or autoscale: null)"))
        try:
            spec.autoscale.scale_policy(topo)
        except ValidationError as exc:
            problems += [(f"{where}.policy" + (f".{path}" if path else ""), message)
                         for path, message in validation_problems(exc)]
        return problems

    def topology_problems(self, topo: Topology) -> list[Problem]:
        members = topo.nodes_of("orchestrator")
        first, spec = next(iter(members.items()))
        return [(f"nodes.{name}.{option}", f"differs from {first}'s (every member of the cluster "
                                           "runs with the same settings)")
                for name, other in members.items() for option in SHARED
                if getattr(other, option) != getattr(spec, option)]

    def converge_checks(self, lab) -> list[Check]:
        bad = not_ready(lab, "orchestrator")
        if bad:
            return [Check("orchestrator", False, "; ".join(f"{n}: {r}" for n, r in bad.items()),
                          lab.logs_of([(n, "orchestrator") for n in bad]))]
        try:
            return cluster_checks(lab, orchview.read(lab))
        except LabError as exc:
            return [Check("orchestrator leader", False, str(exc))]

    def heal(self, lab) -> list[str]:
        """Each LB node's desired state back to the topology's (the leader may have scaled)."""
        done = []
        view = orchview.read(lab)
        for node, state in wanted_states(lab.topo).items():
            current = view.desired.get(node)
            if current is None or (isinstance(current, DesiredState) and current.state == state):
                continue
            value = DesiredState(state=state, term=0, reason="lab heal: the topology's state", at=time.time())
            etcdread.put(lab, keys.desired_key(node), dump_value(value))
            done.append(f"desired state of {node} back to {state}")
        return done

    def hazards(self, lab, node: str) -> list[Hazard]:
        """A member killed or hung: the others elect a leader and take its shard within about a
        lease TTL; users see nothing (the LBs keep the health they were told)."""
        if len(lab.node_names("orchestrator")) < 2:
            return []
        member = {"node": node, "daemon": "orchestrator"}
        return [Hazard("kill", member), Hazard("stop", member)]

    def fault_budget(self, lab) -> int:
        """A minority of the cluster."""
        return (len(lab.node_names("orchestrator")) - 1) // 2

    def status(self, lab) -> dict:
        try:
            return {"orchestration": orchview.read(lab).as_dict()}
        except LabError as exc:
            return {"orchestration": {"error": str(exc)}}

    def render_status(self, data: dict, console) -> None:
        render(data.get("orchestration") or {}, console)


def _state(value: Any, text) -> str:
    return f"[red]{value}[/]" if isinstance(value, str) else text(value)


def render(section: dict, console) -> None:
    """The cluster, the agents and the backends' health, as ``status`` read them from etcd."""
    if not section:
        return
    if "error" in section:
        console.print(f"orchestrator: [red]{section['error']}[/]")
        return
    shards = ", ".join(_state(s, lambda s, m=m: f"{m} {len(s['targets'])}")
                       for m, s in section["shards"].items()) or "none"
    console.print(f"orchestrator: leader [bold]{section['leader'] or 'none'}[/] (term {section['term']}); "
                  f"members {', '.join(section['members']) or '[red]none[/]'}; targets per shard: {shards}")
    drained = set(section["drained"])
    agents = []
    for node, agent in section["agents"].items():
        desired = section["desired"].get(node)
        wanted = desired["state"] if isinstance(desired, dict) else None
        agents.append(_state(agent, lambda a, n=node, w=wanted: f"{n} {a['phase']}"
                             + (f" (desired {w})" if w and w != a["phase"] else "")
                             + (" [yellow]drained[/]" if n in drained else "")))
    console.print("LB agents: " + (", ".join(agents) or "[red]none registered[/]"))
    health = [_state(h, lambda h, b=b: f"[green]{b} healthy[/]" if h["healthy"]
                     else f"[red]{b} unhealthy[/] ({h['reason']}, {h['checker']})")
              for b, h in section["health"].items()]
    console.print("backend health: " + (", ".join(health) or "no reports yet"))
