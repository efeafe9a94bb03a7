"""Sharding the health checks: every target to exactly one live member, by rendezvous hashing.

Each (member, target) pair gets a stable 64-bit score; a target goes to the member with the
highest score. Removing a member moves only the targets it had (each to its runner-up); adding
one takes from every other member only the targets it now wins — nothing else moves.
"""
from __future__ import annotations

from collections.abc import Iterable

from lbapp.algorithms.hashing import key_hash


def score(member: str, target: str) -> int:
    return key_hash(member.encode() + b"\0" + target.encode())


def owner(members: Iterable[str], target: str) -> str:
    """The member that checks ``target`` (ties, practically impossible, go to the lower name)."""
    best_member, best_score = None, -1
    for member in sorted(members):
        value = score(member, target)
        if value > best_score:
            best_member, best_score = member, value
    if best_member is None:
        raise ValueError("no live member to assign to")
    return best_member


def assign(members: Iterable[str], targets: Iterable[str]) -> dict[str, str]:
    """target -> member for every target; empty when there are no members."""
    live = sorted(set(members))
    if not live:
        return {}
    return {target: owner(live, target) for target in sorted(set(targets))}


def shards(assignment: dict[str, str]) -> dict[str, list[str]]:
    """member -> its sorted targets."""
    out: dict[str, list[str]] = {}
    for target, member in sorted(assignment.items()):
        out.setdefault(member, []).append(target)
    return out
