"""How long a scenario report takes to draw: a synthetic result directory the size of a real run
(default: 30 s, 3 HTTP clients at 100 req/s, DNS at 20 q/s, an LB node down for 6 s) written with
the runner's own functions, then ``write_report`` on it, several rounds.

    python -m benchmarks.report_timing [--duration 30] [--clients 3] [--rate 100] [--rounds 3]

Prints CPU and wall seconds per round (matplotlib's import once, then the report). A measurement:
it never fails on the numbers. The tests use ``write_synthetic_run`` for realistic result dirs.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from scenarios import analysis
from scenarios.checks import Context, RoutePoll, judge_all
from scenarios.history import HistoryWriter, load_history
from scenarios.report import build_result, write_result
from scenarios.spec import parse_scenario

T0 = 1_800_000_000.0
LBS = ("lb1", "lb2", "lb3")
BACKENDS = tuple(f"be{i}" for i in range(1, 7))
NEXTHOPS = ("10.0.1.1", "10.0.1.2", "10.0.1.3")


def synthetic_scenario(duration: float, clients: int, rate: float, dns_rate: float, down: tuple[float, float]):
    names = [f"client{i + 1}" for i in range(clients)]
    traffic = [{"kind": "http", "clients": names, "url": "http://lb.payment.example/", "rate": rate, "timeout": "1s"}]
    if dns_rate:
        traffic.append({"kind": "dns", "clients": names[:1], "name": "lb.payment.example", "rate": dns_rate,
                        "timeout": "500ms"})
    return parse_scenario({
        "name": "synthetic", "description": "lb2 down and back (synthetic history)", "topology": "reference",
        "duration": f"{duration:g}s", "floor": {"disruption": "300ms", "note": "BFD 100 ms x 3"},
        "traffic": traffic,
        "faults": [{"at": f"{down[0]:g}s", "action": "node_down", "node": "lb2"},
                   {"at": f"{down[1]:g}s", "action": "node_up", "node": "lb2"}],
        "checks": [{"success_rate": {"min": "98%"}}, {"longest_disruption": {"max": "1s"}},
                   {"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 2,
                                       "after": f"{down[0]:g}s", "within": "1s"}}]})


def _ops(client: str, kind: str, rate: float, duration: float, down: tuple[float, float], rng: random.Random):
    """One client's operations: lb2 answers until down[0]; its flows time out for 0.25 s after."""
    out = []
    for seq in range(int(duration * rate)):
        t = seq / rate + rng.uniform(0, 0.002)
        rec = {"type": kind, "client": client, "stream": 0, "seq": seq, "t_send": T0 + t,
               "latency": rng.lognormvariate(-5, 0.5), "outcome": "ok"}
        if kind == "http":
            lb = rng.choice(LBS if not down[0] <= t < down[1] + 1 else ("lb1", "lb3"))
            if down[0] + 0.05 <= t < down[0] + 0.3 and rng.random() < 1 / 3:
                rec.update(outcome="timeout", latency=1.0)
            else:
                rec.update(status=200, lb=lb, backend=rng.choice(BACKENDS))
        else:
            rec["answers"] = ["10.0.0.100"]
        out.append(rec)
    return out


def write_synthetic_run(out: Path, duration: float = 30.0, clients: int = 3, rate: float = 100.0,
                        dns_rate: float = 20.0, seed: int = 1) -> Path:
    """A result directory as the runner writes it (histories, scenario.json, result.json)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    down = (duration * 0.2, duration * 0.6)
    scenario = synthetic_scenario(duration, clients, rate, dns_rate, down)
    paths = []
    for i in range(clients):
        client = f"client{i + 1}"
        path = out / f"history-{client}.jsonl"
        writer = HistoryWriter(path)
        writer.write({"type": "meta", "client": client, "start": T0, "duration": duration, "streams": []})
        ops = _ops(client, "http", rate, duration, down, rng)
        if i == 0 and dns_rate:
            ops += _ops(client, "dns", dns_rate, duration, down, rng)
        for rec in sorted(ops, key=lambda r: r["t_send"]):
            writer.write(rec)
        writer.close()
        paths.append(path)
    history = load_history(paths)
    without_lb2 = [NEXTHOPS[0], NEXTHOPS[2]]
    polls = {("r1", "10.0.0.100/32"): [
        RoutePoll(round(t, 4), without_lb2 if down[0] + 0.3 <= t < down[1] + 2 else list(NEXTHOPS))
        for t in (k * 0.05 for k in range(int(duration / 0.05) + 1))]}
    ctx = Context(history=history, t0=T0, duration=duration, route_polls=polls)
    faults = [{"index": i, "at": f.at, "action": f.action, "params": f.params(), "status": "applied",
               "applied_at": f.at + 0.01, "took": 0.02} for i, f in enumerate(scenario.faults)]
    result = build_result(scenario, lab="synthetic", t0=T0,
                          analysis=analysis.analyze(history, T0, duration), checks=judge_all(scenario, ctx),
                          faults=faults, heal={"status": "ok", "at": duration + 0.5, "took": 0.4},
                          route_polls=polls, files={"histories": {p.stem: str(p) for p in paths}})
    (out / "scenario.json").write_text(scenario.model_dump_json(indent=1) + "\n", encoding="utf-8")
    write_result(result, out / "result.json")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report_timing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run = write_synthetic_run(Path(tmp) / "run", args.duration, args.clients, args.rate)
        cpu, wall = time.process_time(), time.perf_counter()
        from scenarios import plots  # noqa: F401 - the one-time import, measured on its own
        print(f"import matplotlib: cpu {time.process_time() - cpu:.2f}s wall {time.perf_counter() - wall:.2f}s")
        from scenarios.htmlreport import write_report
        for k in range(args.rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            write_report(run)
            print(f"round {k + 1}: report cpu {time.process_time() - cpu:.2f}s wall {time.perf_counter() - wall:.2f}s",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
