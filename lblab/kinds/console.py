"""The console: web UI, JSON API and CLI through which operators change LB configs. The lab
forwards it to the lab host's 127.0.0.1 (no route to the lab) and keeps its token."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from lblab.daemons.console import PORT, Console as ConsoleDaemon, token_path
from lblab.daemons.forwarder import Forwarder
from lblab.kinds.base import Check, Hazard, NodeKind, not_ready
from lblab.kinds.dns import vip_holders
from lblab.kinds.lb import announcing
from lblab.kinds.registry import register
from lblab.lab.consoleapi import ConsoleApi, ConsoleApiError
from lblab.topology.model import NodeOptions


class ConsoleOptions(NodeOptions):
    role: Literal["console"]
    host_port: int = Field(default=8080, ge=1024, le=65535,
                           description="preferred port on the lab host's 127.0.0.1 (another "
                                       "lab's console there: any free port)")


def forwarder(ctx) -> Forwarder:
    return Forwarder(ctx, upstream_port=PORT, preferred_port=ctx.spec.host_port,
                     ready_path="/-/healthy")


def read_token(ctx) -> str | None:
    try:
        return token_path(ctx).read_text().strip() or None
    except OSError:
        return None


def live_status_check(lab) -> Check:
    """The console's live view (written by the nodes' status reporters) agrees with the lab:
    each active LB's announcement, the DNS VIP's holder."""
    logs = lab.logs_of([(n, "reporter") for n in lab.node_names()])
    try:
        status = ConsoleApi(lab).lab_status()
    except ConsoleApiError as exc:
        return Check("live status", False, str(exc), logs)
    reported = {node: (value or {}).get("announced")
                for node, value in (status.get("announcements") or {}).items()}
    wrong = [f"{node} {reported.get(node, 'absent')} (is {state})"
             for node, state in announcing(lab).items() if reported.get(node, "absent") != state]
    holder = (status.get("dns_vip") or {}).get("holder")
    if lab.topo.dns.vip is not None:
        holders = vip_holders(lab)
        if [holder] != holders:
            wrong.append(f"DNS VIP holder {holder} (is {', '.join(holders) or 'nobody'})")
    detail = (f"announcements of {', '.join(sorted(reported)) or 'no LB'}, DNS VIP on {holder}"
              if not wrong else "reported: " + "; ".join(wrong))
    return Check("live status", not wrong, detail, logs)


def console_status(lab) -> dict[str, dict]:
    found = {}
    for node in lab.node_names("console"):
        ctx = lab.ctx(node)
        found[node] = {"url": forwarder(ctx).url, "lab_url": ConsoleDaemon(ctx).url,
                       "token": read_token(ctx), "token_file": str(token_path(ctx))}
    return found


@register
class Console(NodeKind):
    role = "console"
    options = ConsoleOptions
    summary = "web UI + JSON API to view and change LB configs"

    def daemons(self, ctx):
        return [ConsoleDaemon(ctx), forwarder(ctx)]

    def converge_checks(self, lab) -> list[Check]:
        checks = []
        for name, what in (("console", "/-/ready"), ("forwarder", "UI on 127.0.0.1")):
            bad = not_ready(lab, name)
            checks.append(Check(name, not bad, f"{what} answers" if not bad else
                                "; ".join(f"{n}: {r}" for n, r in bad.items()),
                                lab.logs_of([(n, name) for n in bad])))
        if all(check.ok for check in checks):
            checks.append(live_status_check(lab))
        return checks

    def status(self, lab) -> dict:
        return {"console": console_status(lab)}

    def hazards(self, lab, node: str) -> list[Hazard]:
        """The console lost: config changes wait until it is back; the LBs serve on."""
        return [Hazard("kill", {"node": node, "daemon": "console"})]

    def fault_budget(self, lab) -> int:
        return len(lab.node_names("console"))

    def render_status(self, data: dict, console) -> None:
        for node, entry in (data.get("console") or {}).items():
            url = entry["url"] or "[red]no forwarder port yet[/]"
            console.print(f"console ({node}): {url} (in the lab: {entry['lab_url']}); "
                          f"token {entry['token'] or '[red]none yet[/]'} ({entry['token_file']})")
