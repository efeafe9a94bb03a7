"""Proxy benchmark: lbapp's LB beside HAProxy and nginx, in one run, inside a lab of its own.

    python -m benchmarks.proxy_bench [--duration 10] [--rounds 3] [--connections 64] ...
    (or `make bench`)

What it does, in one run:

1. brings up the ``minimal`` topology as lab ``bench`` (torn down at the end, also on failure
   or Ctrl-C);
2. starts nginx backends (a fixed tiny response) on be1 and be2, port 8081, from
   ``templates/bench-nginx-backend.conf.j2``;
3. on lb1 runs the targets, all for the same two backends with keep-alive on both sides:
   ``direct``   the same nginx backend config on lb1 itself (the path without a proxy hop:
                client1 has no route to the backend LAN),
   ``lbapp``    the lab's own lbapp LB (port 80), re-pointed at the nginx backends through
                the console (etcd + Redis), every feature on (metrics, X-Forwarded-For,
                timeouts, retries, outlier detection),
   ``lbapp-wN`` a second lbapp LB with ``workers: N`` (SO_REUSEPORT), same config,
   ``haproxy``  HAProxy 2.6, ``nbthread 1`` (``templates/bench-haproxy.cfg.j2``),
   ``nginx``    nginx as a reverse proxy, one worker (``templates/bench-nginx-proxy.conf.j2``);
4. runs wrk (keep-alive) on client1 against lb1's edge address (client1 -> r1 -> lb1); every
   target is warmed up, then measured for ``--duration`` seconds, in ``--rounds`` interleaved
   rounds (A B C A B C ...) so that load drift on a shared machine hits all of them alike; the
   median of the rounds is reported;
5. measures each proxy's CPU time during each run from /proc/PID/stat (utime + stime of the
   process and its children: HAProxy, nginx master and workers, lbapp workers);
6. prints a table and the lbapp/HAProxy ratios, and writes every number to
   ``results/bench/proxy-bench-<time>.json``.

CPU placement: wrk and the nginx backends on CPU 0 (``--client-cpu``), the proxy under test on
CPU 1 (``--proxy-cpu``); the multi-worker lbapp target is not pinned (its workers use every
CPU, sharing them with wrk and the backends). Kernel network work (veth, routing on r1) runs
on whichever CPU sends the packet.

Every process is started through the lab's daemon classes (``benchmarks/targets.py``), so the
lab's ledger records it and teardown stops it. This is a measurement: it never fails on the
numbers (exit 0 unless the run itself failed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import targets as T
from benchmarks.cpu import cpu_busy_between, cpu_seconds_between, cpu_snapshot, cpu_times, process_tree
from benchmarks.summary import GOAL, Target, fmt_us, print_table, ratios, round_record
from benchmarks.wrk import WrkError, WrkResult, parse_wrk, wrk_argv
from lblab.lab import probes
from lblab.lab.consoleapi import ConsoleApi
from lblab.lab.instance import Lab, teardown
from lblab.lab.propagation import wait_applied
from lblab.paths import RESULTS_DIR

BENCH_RESULTS = RESULTS_DIR / "bench"


class Bench:
    def __init__(self, args: argparse.Namespace, console) -> None:
        self.args = args
        self.console = console
        self.lab = None
        self.daemons: list = []
        self.targets: list[Target] = []

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False)

    # -- processes we start: lab daemons, recorded in its ledger -----------------------------
    def start(self, daemon) -> int:
        self.lab.start_daemon(daemon)
        self.daemons.append(daemon)
        return self.lab.process_of(daemon).pid

    def stop_all(self) -> None:
        for daemon in reversed(self.daemons):
            self.lab.stop_daemon(daemon)

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        a, lab = self.args, self.lab
        topo = lab.topo
        lb = a.lb_node
        ctx = lab.ctx(lb)
        edge = str(topo.nodes[lb].interfaces["edge"])
        backends = []
        for node in ("be1", "be2"):
            backends.append(T.BackendAddr(node, str(topo.nodes[node].interfaces["backend"]), T.BACKEND_PORT))
            self.start(T.backend(lab.ctx(node), a.client_cpu))
        self.say(f"nginx backends on be1, be2 :{T.BACKEND_PORT} (CPU {a.client_cpu})")
        wanted = set(a.targets)

        if "direct" in wanted:
            pid = self.start(T.direct(ctx, edge, a.proxy_cpu))
            self.targets.append(Target("direct", "backend direct", T.DIRECT_PORT, [pid], a.proxy_cpu))

        if any(t.startswith("lbapp") for t in wanted):
            # Every lbapp LB of the lab (and those started here) follows this config.
            written = ConsoleApi(lab).edit(topo.service.lb_id, "replace", T.lb_config(backends))
            revision = written["version"]
            wait_applied(lab, [lb], revision, written["committed_at"], timeout=30)

        if "lbapp" in wanted:
            main = lab.process_of(lab.daemon(lb, "lbserver"))
            for pid in process_tree(main.pid):
                subprocess.run(["taskset", "-a", "-p", "-c", a.proxy_cpu, str(pid)],
                               check=True, capture_output=True)
            self.targets.append(Target("lbapp", "lbapp workers=1", topo.nodes[lb].port,
                                       [main.pid], a.proxy_cpu))
            self.say(f"lbapp LB on {lb}:{topo.nodes[lb].port} serving config revision {revision} "
                     f"(be1, be2 :{T.BACKEND_PORT}); pid {main.pid} pinned to CPU {a.proxy_cpu}")

        if "lbapp-baseline" in wanted:
            pid = self.start(T.lbapp_baseline(ctx, Path(a.baseline_tree), a.proxy_cpu))
            self.targets.append(Target("lbapp-baseline", "lbapp baseline tree", T.LBAPP_BASELINE_PORT,
                                       [pid], a.proxy_cpu))

        if a.lbapp_workers > 1 and "lbapp-multi" in wanted:
            pid = self.start(T.lbapp_multi(ctx, a.lbapp_workers))
            self.targets.append(Target("lbapp-multi", f"lbapp workers={a.lbapp_workers}",
                                       T.LBAPP_MULTI_PORT, [pid], "none"))

        if "haproxy" in wanted:
            pid = self.start(T.haproxy(ctx, edge, backends, a.proxy_cpu))
            self.targets.append(Target("haproxy", "HAProxy nbthread=1", T.HAPROXY_PORT, [pid], a.proxy_cpu))

        if "nginx" in wanted:
            pid = self.start(T.nginx_proxy(ctx, edge, backends, a.proxy_cpu))
            self.targets.append(Target("nginx", "nginx proxy, 1 worker", T.NGINX_PROXY_PORT, [pid], a.proxy_cpu))

        order = {k: i for i, k in enumerate(a.targets)}
        self.targets.sort(key=lambda t: order[t.key])
        self.check_answers(edge)

    def check_answers(self, edge: str) -> None:
        """Every target answers 200 with the backends' body from client1; proxies say who they are."""
        ns = self.lab.ns(self.args.client_node)
        for t in self.targets:
            status, headers, body = probes.http_get(ns, edge, t.port, "/", timeout=2)
            if status != 200 or body.strip() != T.BODY.encode():
                raise RuntimeError(f"{t.label} on {edge}:{t.port} answered {status} {body[:60]!r}")
            if t.key != "direct" and "x-lb" not in headers:
                raise RuntimeError(f"{t.label} answered without an X-LB header: not proxied?")

    # -- measuring ------------------------------------------------------------------------------
    def run_wrk(self, target: Target, duration: float,
                edge: str) -> tuple[WrkResult, tuple[float, float], dict[str, float]]:
        a = self.args
        argv = wrk_argv(f"http://{edge}:{target.port}/", a.threads, a.connections, duration,
                        cpu=a.client_cpu)
        before, machine_before = cpu_snapshot(target.roots), cpu_times()
        result = self.lab.run(a.client_node, argv, timeout=duration + 60)
        after, machine_after = cpu_snapshot(target.roots), cpu_times()
        if result.returncode != 0:
            raise WrkError(f"wrk against {target.label} exited {result.returncode}: "
                           f"{result.stderr.strip()[-400:]}")
        return (parse_wrk(result.stdout), cpu_seconds_between(before, after),
                cpu_busy_between(machine_before, machine_after))

    def measure(self) -> None:
        a = self.args
        edge = str(self.lab.topo.nodes[a.lb_node].interfaces["edge"])
        for t in self.targets:
            self.say(f"warm-up {t.label}: {a.warmup:g}s")
            self.run_wrk(t, a.warmup, edge)
        for n in range(1, a.rounds + 1):
            for t in self.targets:
                result, cpu, busy = self.run_wrk(t, a.duration, edge)
                record = round_record(result, cpu, busy)
                record["round"] = n
                t.rounds.append(record)
                cpu = f"{record['cpu_percent']:.0f}%" if record["cpu_percent"] is not None else "-"
                self.say(f"round {n}/{a.rounds} {t.label:<24} {result.rps:>10,.0f} req/s  "
                         f"p50 {fmt_us(result.p50_us):>9}  p99 {fmt_us(result.p99_us):>9}  "
                         f"CPU {cpu:>5} ({record['user_us_per_request']} us user + "
                         f"{record['sys_us_per_request']} us sys /req)  machine "
                         + " ".join(f"{c} {b:.0f}%" for c, b in busy.items())
                         + (f"  errors {result.socket_errors + result.non_2xx}"
                                            if result.socket_errors + result.non_2xx else ""))

    # -- the whole run ---------------------------------------------------------------------------
    def run(self) -> dict:
        a = self.args
        started = time.strftime("%Y%m%d-%H%M%S")
        self.say(f"bringing up lab {a.lab} (topology {a.topo})")
        self.lab = Lab.up(a.topo, name=a.lab, progress=lambda m: self.say(f"  {m}"))
        failed = True
        try:
            self.setup()
            self.measure()
            failed = False
        finally:
            self.stop_all()
            if a.keep_lab:
                self.say(f"lab {a.lab} kept (lblab down --lab {a.lab} removes it)")
            else:
                # Logs and rendered configs stay in /run/lblab/<lab>/ when the run failed.
                teardown(a.lab, keep_logs=failed, progress=self.say)
        summaries = {t.key: t.summary() for t in self.targets}
        ratio = ratios(summaries, rounds={t.key: t.rounds for t in self.targets})
        return {"started": started, "command": " ".join(["python -m benchmarks.proxy_bench",
                                                         *sys.argv[1:]]),
                "settings": {k: v for k, v in vars(a).items()},
                "environment": environment(),
                "placement": {"wrk": f"client1, CPU {a.client_cpu}, {a.threads} thread(s)",
                              "backends": f"nginx on be1, be2 :{T.BACKEND_PORT}, 1 worker each, "
                                          f"CPU {a.client_cpu}",
                              "proxies": f"lb1, CPU {a.proxy_cpu} (multi-worker lbapp: not pinned)"},
                "targets": [{"key": t.key, "label": t.label, "port": t.port, "where": t.placement,
                             "summary": summaries[t.key], "rounds": t.rounds}
                            for t in self.targets],
                "ratios_vs_haproxy": ratio,
                "goal": GOAL}


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def environment() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "load_average": os.getloadavg(),
            "haproxy": _version(["haproxy", "-v"]), "nginx": _version(["nginx", "-v"]),
            "wrk": _version(["wrk", "-v"])}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.proxy_bench",
                                description="lbapp's LB beside HAProxy and nginx, measured with "
                                            "wrk inside a lab of its own")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per target (3)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3); median reported")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--lbapp-workers", type=int, default=2,
                   help="workers of the multi-worker lbapp target (2; 0 or 1 leaves it out)")
    p.add_argument("--targets", default=",".join(T.ALL_TARGETS),
                   help=f"comma-separated subset of {','.join(T.ALL_TARGETS)}")
    p.add_argument("--baseline-tree", metavar="DIR",
                   help="also measure lbapp from DIR (a tree holding lbapp/, e.g. an older "
                        "commit: git archive REV lbapp | tar -x -C DIR), pinned like lbapp")
    p.add_argument("--client-cpu", default="0", help="CPU list of wrk and the backends (0)")
    p.add_argument("--proxy-cpu", default="1", help="CPU list of the proxy under test (1)")
    p.add_argument("--lab", default="bench", help="lab name (bench)")
    p.add_argument("--topo", default="minimal", help=argparse.SUPPRESS)
    p.add_argument("--lb-node", default="lb1", help=argparse.SUPPRESS)
    p.add_argument("--client-node", default="client1", help=argparse.SUPPRESS)
    p.add_argument("--keep-lab", action="store_true", help="leave the lab running at the end")
    p.add_argument("--out-dir", default=str(BENCH_RESULTS), help="where the JSON result goes")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.baseline_tree:
        if not (Path(args.baseline_tree) / "lbapp" / "lbserver").is_dir():
            p.error(f"--baseline-tree {args.baseline_tree}: no lbapp/lbserver in it")
        args.baseline_tree = str(Path(args.baseline_tree).resolve())
        at = args.targets.index("lbapp") + 1 if "lbapp" in args.targets else 0
        args.targets.insert(at, "lbapp-baseline")
    unknown = sorted(set(args.targets) - set(T.ALL_TARGETS) - set(T.EXTRA_TARGETS))
    if unknown:
        p.error(f"unknown targets: {', '.join(unknown)} (known: {', '.join(T.ALL_TARGETS)})")
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1 or args.threads < 1:
        p.error("--rounds, --duration, --connections and --threads must be positive")
    return args


_MAIN_PID = os.getpid()


def _interrupt(signum, _frame):
    # Helpers forked by libraries (pyroute2 forks to enter namespaces) inherit this handler and
    # are stopped with SIGTERM: they must just exit, not unwind into our clean-up.
    if os.getpid() != _MAIN_PID:
        os._exit(128 + signum)
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = parse_args(argv)
    console = Console(width=max(150, shutil.get_terminal_size((150, 24)).columns))
    missing = [tool for tool in ("wrk", "haproxy", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        console.print(f"missing tools: {', '.join(missing)} (run tools/setup.sh)")
        return 2
    if os.geteuid() != 0:
        console.print("the benchmark builds a lab: run it as root")
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    bench = Bench(args, console)
    try:
        report = bench.run()
    except KeyboardInterrupt:
        console.print("interrupted: processes stopped and lab torn down")
        return 130
    except Exception as exc:  # noqa: BLE001 - the lab is down already; say what failed
        console.print(f"benchmark failed: {type(exc).__name__}: {exc}", highlight=False)
        return 1
    summaries = {t["key"]: t["summary"] for t in report["targets"]}
    console.print()
    print_table(console, bench.targets, summaries, report["ratios_vs_haproxy"])
    console.print(f"wrk: {report['placement']['wrk']}, {args.connections} connections, keep-alive; "
                  f"backends: {report['placement']['backends']}; proxies: "
                  f"{report['placement']['proxies']}. CPU = utime+stime of the proxy's processes "
                  "in % of one core (summed over its processes; user + system us per request); "
                  "CPU0/CPU1 busy = each CPU during the run (everything: wrk, backends, kernel "
                  "network work, other labs).",
                  highlight=False)
    goal = report["goal"]
    for key, r in report["ratios_vs_haproxy"].items():
        label = next(t.label for t in bench.targets if t.key == key)
        ok_rps = r["rps_ratio"] >= goal["rps_ratio_min"]
        ok_p99 = r["p99_ratio"] is not None and r["p99_ratio"] <= goal["p99_ratio_max"]
        console.print(f"{label} / HAProxy: req/s {r['rps_ratio']:.3f}x "
                      f"(goal >= {goal['rps_ratio_min']}: {'met' if ok_rps else 'not met'}), "
                      f"p99 {r['p99_ratio']:.3f}x (goal <= {goal['p99_ratio_max']}: "
                      f"{'met' if ok_p99 else 'not met'})", highlight=False)
        if r.get("rps_ratio_per_round"):
            console.print("    per round: req/s " + " ".join(f"{x:.2f}" for x in r["rps_ratio_per_round"])
                          + ", p99 " + " ".join(f"{x:.2f}" for x in r["p99_ratio_per_round"]),
                          highlight=False)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"proxy-bench-{report['started']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
