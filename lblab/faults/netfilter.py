"""Faults made of nftables rules inside node namespaces: partitions and packet loss. Each fault
is one table of its own (lblab_<id>), so undoing it deletes exactly that table."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lblab.faults.base import Fault, FaultError, new_fault_id
from lblab.faults.params import NodeName
from lblab.lab import netns


def table_name(fault_id: str) -> str:
    return f"lblab_{fault_id}"


def nft(lab, node: str, script: str) -> None:
    result = netns.run(lab.ns(node), ["nft", "-f", "-"], input=script)
    if result.returncode != 0:
        raise FaultError(f"nft on {node}: {result.stderr.strip()}")


def drop_table(fault_id: str, input_rule: str, output_rule: str) -> str:
    return f"""
table inet {table_name(fault_id)} {{
  chain input {{ type filter hook input priority -10; {input_rule}drop; }}
  chain output {{ type filter hook output priority -10; {output_rule}drop; }}
}}
"""


def addresses(lab, nodes: list[str]) -> list[str]:
    found = []
    for node in nodes:
        if node not in lab.topo.nodes:
            raise FaultError(f"no node {node!r}")
        found += [str(a) for a in lab.topo.addresses(node)]
    return found


def delete_tables(lab, record: dict) -> None:
    for node in record.get("nft_nodes", []):
        netns.run(lab.ns(node), ["nft", "delete", "table", "inet", table_name(record["id"])])


class _NftFault(Fault):
    def undo(self, lab, record: dict) -> None:
        delete_tables(lab, record)

    def install(self, lab, rules: dict[str, str]) -> dict:
        """Install node -> ruleset (@ID@ stands for the fault id) as one fault; on failure
        remove what was installed."""
        fault_id = new_fault_id()
        done: list[str] = []
        try:
            for node, script in rules.items():
                nft(lab, node, script.replace("@ID@", fault_id))
                done.append(node)
        except FaultError:
            delete_tables(lab, {"id": fault_id, "nft_nodes": done})
            raise
        return self.record(lab, fault_id=fault_id, nft_nodes=done)


def group_refs(groups: list[list[str]] | None) -> list[tuple[str, str, None]]:
    return [(f"groups[{g}][{j}]", node, None) for g, group in enumerate(groups or [])
            for j, node in enumerate(group)]


class Partition(_NftFault):
    """Nodes in different groups cannot reach each other (nftables drops; undone by heal)."""

    action: Literal["partition"] = "partition"
    groups: list[list[NodeName]] = Field(min_length=2)

    @field_validator("groups")
    @classmethod
    def _disjoint(cls, groups: list[list[str]]) -> list[list[str]]:
        if any(not g for g in groups):
            raise ValueError("every group needs at least one node")
        seen = [n for g in groups for n in g]
        dupes = sorted({n for n in seen if seen.count(n) > 1})
        if dupes:
            raise ValueError(f"nodes in more than one group: {', '.join(dupes)}")
        return groups

    def apply(self, lab) -> dict:
        rules = {}
        for i, group in enumerate(self.groups):
            blocked = ", ".join(addresses(lab, [n for j, g in enumerate(self.groups) if j != i for n in g]))
            for node in group:
                rules[node] = drop_table("@ID@", f"ip saddr {{ {blocked} }} ", f"ip daddr {{ {blocked} }} ")
        addresses(lab, [n for g in self.groups for n in g])
        return self.install(lab, rules)

    def node_refs(self):
        return group_refs(self.groups)


class Loss(_NftFault):
    """Drop this percentage of the node's packets each way (to/from peer only, if given); 0 removes it."""

    action: Literal["loss"] = "loss"
    node: NodeName
    percent: float = Field(ge=0, le=100)
    peer: NodeName | None = None

    def apply(self, lab) -> dict:
        for record in self.recorded(lab, ("loss",), node=self.node, peer=self.peer):
            delete_tables(lab, record)
            lab.ledger.remove_fault(record["id"])
        if self.percent <= 0:
            return self.done()
        addresses(lab, [self.node])
        match_in = match_out = ""
        if self.peer is not None:
            peers = ", ".join(addresses(lab, [self.peer]))
            match_in, match_out = f"ip saddr {{ {peers} }} ", f"ip daddr {{ {peers} }} "
        threshold = round(self.percent * 100)  # in 1/10000
        sample = "" if threshold >= 10000 else f"numgen random mod 10000 < {max(1, threshold)} "
        return self.install(lab, {self.node: drop_table("@ID@", match_in + sample, match_out + sample)})


class Heal(Fault):
    """Remove partitions (all, or the one between these groups) and loss rules."""

    action: Literal["heal"] = "heal"
    groups: list[list[NodeName]] | None = None

    def apply(self, lab) -> dict:
        healed = []
        for record in lab.ledger.faults():
            if record["action"] == "loss" or (record["action"] == "partition" and
                                              (self.groups is None or record["params"]["groups"] == self.groups)):
                delete_tables(lab, record)
                lab.ledger.remove_fault(record["id"])
                healed.append(record["id"])
        return self.done(healed=healed)

    def node_refs(self):
        return group_refs(self.groups)
