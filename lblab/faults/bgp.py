"""A rogue or mistaken BGP speaker: an LB node announcing a prefix it must not (the route goes
into a kernel table its BIRD learns and exports), and taking it back; a speaker with the wrong
TCP-MD5 password (or none) in an LB node's place."""
from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import Field

from lblab.daemons.bird import BirdSpeaker, ImpostorSpeaker
from lblab.faults.base import Fault, FaultError
from lblab.faults.params import NodeName, Prefix
from lblab.lab import netns
from lblab.topology.model import PASSWORD


def speaker(lab, node: str) -> BirdSpeaker:
    if node not in lab.topo.nodes:
        raise FaultError(f"no node {node!r} in lab {lab.name}")
    found = next((d for d in lab.daemons(node) if isinstance(d, BirdSpeaker)), None)
    if found is None:
        raise FaultError(f"{node} runs no BGP speaker: announce/withdraw need an LB node")
    return found


def rogue_route(lab, bird: BirdSpeaker, verb: str, prefix: str) -> None:
    node = bird.ctx.node
    result = netns.run(lab.ns(node), ["ip", "route", verb, "blackhole", prefix,
                                      "table", str(bird.ROGUE_TABLE), "proto", "static"])
    if result.returncode != 0:
        raise FaultError(f"{node}: ip route {verb} {prefix}: {result.stderr.strip()}")


def learnt_rogue_routes(bird: BirdSpeaker) -> list[str]:
    """Prefixes the speaker's BIRD has learnt from its rogue kernel table."""
    try:
        return bird.control().route_prefixes(f"show route protocol {bird.ROGUE_PROTOCOL}")
    except (OSError, ConnectionError, RuntimeError):
        return []


class _BgpFault(Fault):
    node: NodeName
    prefix: Prefix

    def node_refs(self):
        return [("node", self.node, "lb")]


class Announce(_BgpFault):
    """The node's BIRD announces prefix to its router(s), whose import filter must drop it (undone by withdraw or heal)."""

    action: Literal["announce"] = "announce"

    def apply(self, lab) -> dict:
        bird = speaker(lab, self.node)
        if self.recorded(lab, ("announce",), node=self.node, prefix=self.prefix):
            raise FaultError(f"{self.node} announces {self.prefix} already")
        rogue_route(lab, bird, "add", self.prefix)
        record = self.record(lab)
        if lab.daemon_state(bird) == "running":   # it goes out on the BGP sessions once learnt
            deadline = time.monotonic() + 3
            while self.prefix not in learnt_rogue_routes(bird):
                if time.monotonic() > deadline:
                    raise FaultError(f"BIRD on {self.node} did not learn {self.prefix} from kernel table "
                                     f"{bird.ROGUE_TABLE} within 3 s (log {bird.log_path})")
                time.sleep(0.02)
        return record

    def undo(self, lab, record: dict) -> None:
        rogue_route(lab, speaker(lab, self.node), "del", self.prefix)


class Withdraw(_BgpFault):
    """Stop announcing a prefix an earlier announce made the node send."""

    action: Literal["withdraw"] = "withdraw"

    def apply(self, lab) -> dict:
        speaker(lab, self.node)
        announced = self.recorded(lab, ("announce",), node=self.node)
        fault = next((f for f in announced if f["params"]["prefix"] == self.prefix), None)
        if fault is None:
            listed = ", ".join(f["params"]["prefix"] for f in announced) or "nothing"
            raise FaultError(f"{self.node} does not announce {self.prefix} (it announces {listed})")
        rogue_route(lab, speaker(lab, self.node), "del", self.prefix)
        self.forget(lab, [fault])
        return self.done()


class RogueSpeaker(Fault):
    """A BGP speaker with this TCP-MD5 password (none given: no password) takes the node's BIRD's place and announces the VIP; with a wrong or missing one the router must give it no session (undone by heal)."""

    action: Literal["rogue_speaker"] = "rogue_speaker"
    node: NodeName
    password: Annotated[str, Field(pattern=PASSWORD)] | None = None

    def node_refs(self):
        return [("node", self.node, "lb")]

    def apply(self, lab) -> dict:
        own = speaker(lab, self.node)
        if self.recorded(lab, ("rogue_speaker",), node=self.node):
            raise FaultError(f"a rogue speaker runs on {self.node} already")
        lab.stop_daemon(own)
        record = self.record(lab)
        lab.start_daemon(ImpostorSpeaker(own.ctx, self.password))
        return record

    def undo(self, lab, record: dict) -> None:
        own = speaker(lab, self.node)
        lab.stop_daemon(ImpostorSpeaker(own.ctx, self.password))
        if lab.daemon_state(own) != "running":
            lab.start_daemon(own)
