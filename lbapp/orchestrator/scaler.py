"""The leader's scaling duty for one LB tier: every few seconds, measure (Prometheus), decide
(lbapp.orchestrator.autoscale) and write the desired state of the chosen node (fenced).

The pool is the LB nodes of this LB (``pool``): registered agents and desired states, less the
nodes an operator drained.
The cooldown is measured from the newest desired-state write (its ``at``), so it holds across a
change of leader.
"""
from __future__ import annotations

import asyncio
import logging
import time

from lbapp import keys
from lbapp.etcd import Op
from lbapp.etcd.mirror import Mirror
from lbapp.orchestrator.autoscale import decide
from lbapp.orchestrator.promquery import PromClient, PromError, render_queries
from lbapp.orchestrator.settings import AutoscaleSettings
from lbapp.orchestrator.values import AgentInfo, DesiredState, dump_value, parse_value

log = logging.getLogger("lbapp.orchestrator.scaler")


def pool(agents: Mirror, desired: Mirror, drained: Mirror, lb_id: str
         ) -> tuple[list[str], list[str], float | None]:
    """-> (active nodes, standby nodes, wall time of the newest desired-state write).

    A node belongs to this LB by its agent's registration or by its desired state's ``lb_id``.
    Its state is its desired state if one was written, else what its agent started with. A node
    desired active whose agent is not registered (down, cut off) still counts as active: its
    missing metrics make the leader hold rather than replace it on incomplete data. A standby
    node counts only while its agent can start it. Drained nodes are the operator's: left out
    entirely (never activated, never chosen to drain, their load not averaged)."""
    wanted: dict[str, DesiredState] = {}
    for kv in desired.kvs.values():
        node = kv.key_text[len(keys.DESIRED_PREFIX):]
        try:
            wanted[node] = parse_value(DesiredState, kv.value, f"etcd:{kv.key_text}")
        except ValueError as exc:
            log.warning("%s; skipped", exc)
    registered: dict[str, AgentInfo] = {}
    for kv in agents.kvs.values():
        try:
            agent = parse_value(AgentInfo, kv.value, f"etcd:{kv.key_text}")
        except ValueError as exc:
            log.warning("%s; skipped", exc)
            continue
        if agent.lb_id == lb_id:
            registered[agent.node] = agent
    drain_prefix = keys.drain_key(lb_id, "")
    out = {kv.key_text[len(drain_prefix):] for kv in drained.kvs.values()}
    active, standby = [], []
    for node in sorted(set(registered) | {n for n, d in wanted.items() if d.lb_id == lb_id}):
        if node in out:
            continue
        state = wanted[node].state if node in wanted else registered[node].desired
        if state == "active":
            active.append(node)
        elif node in registered:
            standby.append(node)
    last = max((d.at for n, d in wanted.items() if n in active or n in standby), default=None)
    return active, standby, last


def scaling_duty(settings: AutoscaleSettings):
    queries = render_queries(settings.selector, settings.rate_window_s, settings.node_label)

    async def autoscale(leader) -> None:
        agents = Mirror(leader.etcd, keys.AGENTS_PREFIX, name="agents")
        desired = Mirror(leader.etcd, keys.DESIRED_PREFIX, name="desired states")
        drained = Mirror(leader.etcd, keys.drain_key(settings.lb_id, ""), name="drained LB nodes")
        prom = PromClient(settings.prometheus_url, settings.query_timeout_s)
        stats = leader.stats
        failing = False
        try:
            async with asyncio.TaskGroup() as group:
                for mirror in (agents, desired, drained):
                    group.create_task(mirror.run())
                for mirror in (agents, desired, drained):
                    await mirror.synced.wait()
                while True:
                    await asyncio.sleep(settings.interval_s)
                    try:
                        loads = await prom.loads(queries, settings.node_label)
                    except PromError as exc:
                        if not failing:
                            log.warning("prometheus query failed, not scaling: %s", exc)
                        failing = True
                        stats.bump(stats.scale_decisions, ("error", ""))
                        continue
                    if failing:
                        log.info("prometheus answers again")
                        failing = False
                    active, standby, last = pool(agents, desired, drained, settings.lb_id)
                    decision = decide(settings.policy, active, standby, loads, time.time(), last)
                    stats.scale_inputs = dict(decision.inputs)
                    stats.scale_reason = decision.reason
                    stats.bump(stats.scale_decisions, (decision.action, decision.node or ""))
                    if decision.action == "hold":
                        log.debug("hold: %s", decision.reason)
                        continue
                    state = "active" if decision.action == "activate" else "standby"
                    value = DesiredState(state=state, term=leader.term, reason=decision.reason,
                                         lb_id=settings.lb_id, at=time.time())
                    await leader.fenced([Op.put(keys.desired_key(decision.node),
                                                dump_value(value))],
                                        f"desired state of {decision.node}")
                    leader.history.record("scale", leader.term, node=decision.node,
                                          action=decision.action, reason=decision.reason,
                                          inputs=decision.inputs)
                    log.info("scale: %s %s (%s; inputs %s)", decision.action, decision.node,
                             decision.reason, {k: round(v, 2) for k, v in decision.inputs.items()})
        finally:
            await prom.close()

    return autoscale
