"""A chaos soak on a running lab: the scenario runner sends steady HTTP and DNS traffic from every
client and records it (the generators, histories, analysis and report of a scenario run), while
the nemesis injects and heals faults drawn from the node kinds' hazards, a writer streams
config writes and pollers record what config every LB server serves. After the traffic: the
final heal, the lab must converge and every LB serve the last write; then the checker judges
the histories (scenarios.chaos.checker) and the verdicts join the scenario's checks in
result.json and report.html.

Files in the result directory besides a scenario's: chaos-plan.json (seed, options, the drawn
faults and writes), config-writes.jsonl, lb-status.jsonl, chaos.json (the verdicts, every
violation with its window of history).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lbapp.lbserver.configsync import POLL_JITTER
from scenarios.htmlreport import CHAOS_FILE
from scenarios.checks import CheckResult
from scenarios.report import status_of, write_result
from scenarios.runner import RunOptions, write_report_files, run_scenario
from scenarios.spec import Scenario, parse_scenario

from .judge import FINAL_FILE, PLAN_FILE, judge_dir
from .plan import Timing, candidates, nemesis_plan, write_plan
from .recorder import (HOST_FILE, STATUS_FILE, WRITES_FILE, ConfigWriter, HostPressure, JsonLines, Nemesis,
                       StatusPoller, read_lines)


@dataclass
class ChaosOptions:
    duration: float
    seed: int
    actions: list[str] | None = None          # only these fault actions (None: every hazard)
    timing: Timing = field(default_factory=Timing)
    http_rate: float = 40.0                   # requests/s per client
    dns_rate: float = 20.0                    # queries/s from the first client
    status_interval: float = 0.2              # LB /-/status polls
    scale: float = 2.0                        # a disruption may last floor x scale + slack
    slack: float = 0.5
    settle: float = 2.0
    converge_timeout: float = 60.0


def traffic_scenario(lab, options: ChaosOptions) -> Scenario:
    """The scenario the runner runs: the traffic, no timed faults (the nemesis brings them) and
    one check of its own (the generators kept up with their rates)."""
    clients = lab.node_names("client")
    traffic: list[dict[str, Any]] = [{"kind": "http", "clients": clients, "url": f"http://{lab.topo.service.name}/",
                                      "rate": options.http_rate, "timeout": "1s"}]
    if lab.dns_vip and options.dns_rate > 0:
        traffic.append({"kind": "dns", "clients": clients[:1], "name": lab.topo.service.name,
                        "rate": options.dns_rate, "timeout": "500ms"})
    return parse_scenario({
        "name": "chaos", "topology": lab.topology, "duration": f"{options.duration:g}s",
        "description": f"chaos soak, seed {options.seed}: faults from the node kinds' hazards under steady "
                       "HTTP and DNS traffic and a stream of config writes",
        "traffic": traffic, "checks": [{"traffic_sent": {"min_fraction": 0.95}}]}, source="chaos")


def delivery_bound(poll_frequency_ms: int, slack: float) -> float:
    """From an acknowledged write to every LB serving it: one poll period at its longest."""
    return poll_frequency_ms / 1000 * (1 + POLL_JITTER) + slack


class _During:
    """What runs while the traffic flows (the runner's ``during`` hook)."""

    def __init__(self, lab, plan, writes, lbs, out: Path, options: ChaosOptions):
        self.lab, self.plan, self.writes, self.lbs, self.out, self.options = lab, plan, writes, lbs, out, options
        self.nemesis: Nemesis | None = None
        self.workers: list = []
        self.files = [JsonLines(out / WRITES_FILE), JsonLines(out / STATUS_FILE), JsonLines(out / HOST_FILE)]

    def __call__(self, run) -> None:
        writes, status, host = self.files
        self.workers = [StatusPoller(self.lab.lb_status, lb, self.options.status_interval, status) for lb in self.lbs]
        self.workers += [ConfigWriter(self.lab.write_config, self.writes, run.t0, writes), HostPressure(host)]
        for worker in self.workers:
            worker.start()
        self.nemesis = Nemesis(self.lab, self.plan, run.t0, run.sleep_until, run.log)
        try:
            self.nemesis.run()
        finally:
            self.nemesis.heal_all_left()
            run.faults.extend(self.nemesis.entries)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for f in self.files:
            f.close()


def _final(lab, lbs: list[str], last_revision: int | None, options: ChaosOptions, bound: float,
           log: Callable[[str], None]) -> dict[str, Any]:
    """After the final heal: converge, then every LB serves the last acknowledged write."""
    started = time.time()
    final: dict[str, Any] = {}
    try:
        final["converge_s"] = round(lab.wait_converged(timeout=options.converge_timeout), 3)
        final["converged"] = True
    except Exception as exc:  # noqa: BLE001 - a verdict, not a crash
        final.update(converged=False, detail=f"{type(exc).__name__}: {exc}")
    if last_revision is not None:
        deadline = time.time() + bound + 2.0
        serving: dict[str, Any] = {}
        while time.time() < deadline:
            for lb in lbs:
                try:
                    serving[lb] = (lab.lb_status(lb).get("config") or {}).get("version")
                except Exception as exc:  # noqa: BLE001
                    serving[lb] = f"{type(exc).__name__}"
            if all(isinstance(v, int) and v >= last_revision for v in serving.values()):
                break
            time.sleep(0.1)
        final["serving"] = serving
    final["daemons"] = lab.daemon_states()
    final["took"] = round(time.time() - started, 3)
    log(f"chaos: final state after {final['took']}s: converged {final.get('converged')}")
    return final


def run_chaos(lab, options: ChaosOptions, out_dir: str | Path, *, log: Callable[[str], None] = print,
              live: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the soak; return the result document (also in out_dir/result.json)."""
    problems = options.timing.problems()
    if problems:
        raise ValueError("; ".join(f"{name}: {why}" for name, why in problems))
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    pool = candidates(lab.hazards(), lab.fault_nodes, options.actions)
    budgets = lab.fault_budgets()
    plan = nemesis_plan(pool, budgets, options.duration, options.seed, options.timing)
    writes = write_plan(options.duration, options.seed, options.timing)
    initial = lab.config_at()
    poll_ms = int((initial or {}).get("config", {}).get("poll_frequency", 5000))
    bound = delivery_bound(poll_ms, options.slack + 1.0)
    states = lab.daemon_states()      # a standby LB's server is held by its agent: not serving
    lbs = [n for n in lab.node_names("lb") if states.get(f"{n}/lbserver") == "running"]
    (out / PLAN_FILE).write_text(json.dumps({
        "seed": options.seed, "options": asdict(options), "budgets": budgets, "lbs": lbs,
        "initial": initial, "delivery_bound": bound,
        "candidates": [{"role": c.role, "node": c.node, "fault": c.label, "nodes": list(c.nodes)} for c in pool],
        "faults": [{"index": s.index, "at": s.start, "hold": s.hold, "fault": s.candidate.label} for s in plan],
        "writes": [asdict(w) for w in writes]}, indent=1, default=str) + "\n")
    log(f"chaos: seed {options.seed}: {len(plan)} faults drawn from {len(pool)} hazards "
        f"(budgets {', '.join(f'{r} {n}' for r, n in budgets.items() if n)}), {len(writes)} config writes")
    during = _During(lab, plan, writes, lbs, out, options)
    scenario = traffic_scenario(lab, options)
    try:
        routes = tuple((router, f"{lab.topo.service.anycast_vip}/32") for router in lab.node_names("router")
                       if lab.topo.scaling == "anycast")
        result = run_scenario(lab, scenario, out, source="chaos",
                              options=RunOptions(during=during, log=log, live=live, routes=routes))
        acked = [r for r in read_lines(out / WRITES_FILE) if r.get("revision") is not None]
        last = max((r["revision"] for r in acked), default=None)
        final = _final(lab, lbs, last, options, bound, log)
    finally:
        during.stop()
    (out / FINAL_FILE).write_text(json.dumps(final, indent=1) + "\n")
    return conclude(lab, out, result)


def conclude(lab, out: Path, result: dict[str, Any], leftovers: dict | None = None,
             leftovers_checked: bool = False) -> dict[str, Any]:
    """Judge the recorded run (again, e.g. once the lab is down and leftovers are known), put
    the verdicts into result.json and chaos.json, redraw the report."""
    if lab is not None:
        def resolve(revision: int) -> str | None:
            return ((lab.config_at(revision) or {}).get("config") or {}).get("algorithm")
    else:   # the lab is gone: what the first judgement looked up
        earlier = json.loads((out / CHAOS_FILE).read_text()).get("resolved", {}) if (out / CHAOS_FILE).is_file() else {}
        resolve = {int(rev): value for rev, value in earlier.items()}.get
    verdicts = judge_dir(out, result, resolve=resolve, leftovers=leftovers, leftovers_checked=leftovers_checked)
    result["checks"] = [c for c in result["checks"] if not c["name"].startswith("chaos ")] + verdicts["checks"]
    result["status"] = status_of([CheckResult(**c) for c in result["checks"]], result["faults"], result.get("error"))
    result["passed"] = result["status"] == "passed"
    result["chaos"] = verdicts["summary"]
    (out / CHAOS_FILE).write_text(json.dumps(verdicts, indent=1, default=str) + "\n")
    write_result(result, out / "result.json")
    write_report_files(result, out, lambda _m: None)
    return result


__all__ = ["ChaosOptions", "conclude", "run_chaos", "traffic_scenario"]
