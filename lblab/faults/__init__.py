"""Faults (the nemesis): one class per action in the modules of this package, one registry
(``FAULTS``). ``apply`` validates a fault's parameters and injects it; ``heal_all`` undoes every
fault the lab's ledger still records, from any process, and starts every daemon that is down.
"""
from __future__ import annotations

import signal

from pydantic import ValidationError

from lbapp.documents import validation_problems
# the registry's order (help text, scenario schema) is this import order
from lblab.faults import process, node, link, site, netfilter, netem, drain, config, bgp  # noqa: F401, I001
from lblab.faults import backend, orchestrator  # noqa: F401, I001
from lblab.faults.base import FAULTS, Fault, FaultError, FaultSkipped, fault_class
from lblab.faults.node import start_dead_daemons
from lblab.faults.params import SECONDS_CONTEXT
from lblab.lab.supervised import HELD


def parse_fault(action: str, params: dict, seconds: bool = False) -> Fault:
    """The fault as a validated model; FaultError naming each bad parameter otherwise. With
    ``seconds``, duration parameters may be plain numbers of seconds (the engine's own calls,
    and the ledger); a person writes "50ms"."""
    cls = fault_class(action)
    try:
        return cls.model_validate({**params, "action": action}, context=SECONDS_CONTEXT if seconds else None)
    except ValidationError as exc:
        problems = "; ".join(f"{path}: {msg}" for path, msg in validation_problems(exc))
        raise FaultError(f"fault {action}: {problems}") from None


def apply(lab, action: str, params: dict) -> dict:
    """Inject a fault given as the scenario runner does (scenarios.labapi.Lab.fault)."""
    return parse_fault(action, params, seconds=True).apply(lab)


def help_lines() -> list[tuple[str, str, str]]:
    """(action, parameters, summary) for every fault, from the registry."""
    lines = []
    for action, cls in FAULTS.items():
        params = []
        for name, field in cls.model_fields.items():
            if name == "action":
                continue
            params.append(f"{name}=…" if field.is_required() else f"[{name}=…]")
        lines.append((action, " ".join(params), cls.summary()))
    return lines


def _undo(lab, record: dict) -> None:
    parse_fault(record["action"], record["params"], seconds=True).undo(lab, record)
    lab.ledger.remove_fault(record["id"])


def fault_nodes(lab, action: str, params: dict) -> list[str]:
    """The lab's nodes a fault names (its node, peer when that is a node, partition groups)."""
    fault = parse_fault(action, params, seconds=True)
    return list(dict.fromkeys(node for _, node, _ in fault.node_refs() if node in lab.topo.nodes))


def heal(lab, record: dict) -> list[str]:
    """Undo one recorded fault, then start what it left dead on the nodes it named (a killed
    daemon has nothing to undo but must run again); what was done."""
    if any(r["id"] == record["id"] for r in lab.ledger.faults()):
        _undo(lab, record)
    done = [f"{record['action']} {record['params']} undone"]
    for node in fault_nodes(lab, record["action"], record["params"]):
        done += [f"restarted {name} on {node}" for name in start_dead_daemons(lab, node, wait=True)]
    return done


def heal_all(lab) -> list[str]:
    """Undo every recorded fault (newest first), SIGCONT what is stopped, start every daemon that
    is not running (wave by wave), let each node kind put back what faults leave behind (a BGP
    session a max-prefix limit shut), and last — once the config DB is back — the faults that
    must wait for every daemon (a changed config is put back)."""
    done = []
    records = list(reversed(lab.ledger.faults()))
    late = [r for r in records if fault_class(r["action"]).heal_last]
    for record in records:
        if record not in late:
            _undo(lab, record)
            done.append(f"{record['action']} {record['params']}")
    for wave in sorted({d.wave for d in lab.all_daemons()}):
        dead = []
        for daemon in (d for d in lab.all_daemons() if d.wave == wave):
            state = lab.daemon_state(daemon)
            if state == "stopped":
                lab.signal_daemon(daemon, signal.SIGCONT)
                done.append(f"continued {daemon.name} on {daemon.ctx.node}")
            elif state not in ("running", HELD):
                lab.stop_daemon(daemon)
                dead.append(daemon)
                done.append(f"restarted {daemon.name} on {daemon.ctx.node}")
        lab.start_daemons(dead)
    for kind in lab.kinds():
        done += kind.heal(lab)
    done += lab.mode.heal(lab)
    for record in late:
        _undo(lab, record)
        done.append(f"{record['action']} {record['params']} put back")
    return done


__all__ = ["FAULTS", "Fault", "FaultError", "FaultSkipped", "apply", "fault_nodes", "heal", "heal_all",
           "help_lines", "parse_fault"]
