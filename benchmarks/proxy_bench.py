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
                etcd + Redis (``topo.configdb``), every feature on (metrics, X-Forwarded-For,
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

This is a measurement: it never fails on the numbers (exit 0 unless the run itself failed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
RESULTS_DIR = ROOT / "results" / "bench"

BACKEND_PORT = 8081
DIRECT_PORT = 8003
HAPROXY_PORT = 8001
NGINX_PROXY_PORT = 8002
LBAPP_MULTI_PORT = 8010
LBAPP_MULTI_ADMIN_PORT = 9110
LBAPP_BASELINE_PORT = 8011
LBAPP_BASELINE_ADMIN_PORT = 9111
BODY = "ok"

# The timeouts and retries every proxy is given (lbapp's config defaults).
CONNECT_MS = 1000
RESPONSE_MS = 15_000
CLIENT_IDLE_MS = 60_000
RETRIES = 2

# -------------------------------------------------------------------------------------------
# config rendering (the text lives in templates/)


@dataclass(frozen=True)
class BackendAddr:
    name: str
    address: str
    port: int


def render_backend_conf(lab: str, node: str, run_dir: Path | str, listen: str,
                        body: str = BODY, workers: int = 1) -> str:
    from lblab.lab.templates import render

    return render("bench-nginx-backend.conf.j2", lab=lab, node=node, run_dir=str(run_dir),
                  listen=listen, body=body, workers=workers, worker_connections=8192)


def render_haproxy_cfg(lab: str, node: str, run_dir: Path | str, listen: str,
                       backends: list[BackendAddr], nbthread: int = 1) -> str:
    from lblab.lab.templates import render

    return render("bench-haproxy.cfg.j2", lab=lab, node=node, run_dir=str(run_dir),
                  listen=listen, backends=backends, nbthread=nbthread, maxconn=8000,
                  connect_ms=CONNECT_MS, response_ms=RESPONSE_MS,
                  client_idle_ms=CLIENT_IDLE_MS, retries=RETRIES)


def render_nginx_proxy_conf(lab: str, node: str, run_dir: Path | str, listen: str,
                            backends: list[BackendAddr], workers: int = 1) -> str:
    from lblab.lab.templates import render

    return render("bench-nginx-proxy.conf.j2", lab=lab, node=node, run_dir=str(run_dir),
                  listen=listen, backends=backends, workers=workers, worker_connections=8192,
                  upstream_keepalive=256, connect_ms=CONNECT_MS, response_ms=RESPONSE_MS,
                  client_idle_ms=CLIENT_IDLE_MS, retries=RETRIES)


def render_lbserver_settings(lab: str, node: str, name: str, lb_id: str, port: int,
                             admin_port: int, workers: int | None, etcd_endpoints: list[str],
                             redis_url: str | None, log_file: Path | str) -> str:
    from lblab.lab.templates import render

    return render("bench-lbserver.yaml.j2", lab=lab, node=node, name=name, lb_id=lb_id,
                  port=port, admin_port=admin_port, workers=workers,
                  etcd_endpoints=etcd_endpoints, redis_url=redis_url, log_file=str(log_file))


def lb_config(backends: list[BackendAddr]) -> dict:
    """The lbapp LB config of the benchmark: every feature at its default (on)."""
    return {"backend_servers": [{"name": b.name, "address": b.address, "port": b.port}
                                for b in backends],
            "algorithm": "round_robin", "health_endpoint": "/health", "poll_frequency": 2000,
            "timeouts": {"connect_ms": CONNECT_MS, "response_ms": RESPONSE_MS,
                         "client_idle_ms": CLIENT_IDLE_MS},
            "retries": {"attempts": RETRIES}}


# -------------------------------------------------------------------------------------------
# wrk


class WrkError(RuntimeError):
    pass


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_us: float
    p99_us: float
    p90_us: float | None = None
    p999_us: float | None = None
    mean_us: float | None = None
    max_us: float | None = None
    socket_errors: int = 0
    non_2xx: int = 0


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


def _duration_us(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise WrkError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_US[match.group(2)]


def wrk_argv(url: str, threads: int, connections: int, duration_s: float,
             cpu: str | None = None, script: Path = WRK_SCRIPT) -> list[str]:
    # wrk takes whole seconds only
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
            "--timeout", "5s", "-s", str(script), url]
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def parse_wrk(text: str) -> WrkResult:
    """wrk's output -> numbers. The JSON line of wrk_report.lua is used when present (exact
    microseconds); otherwise the text of ``--latency`` (rounded by wrk's formatting)."""
    for line in text.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON "):])
            lat = data["latency_us"]
            errors = data["errors"]
            duration = data["duration_us"] / 1e6
            return WrkResult(
                requests=data["requests"], duration_s=duration,
                rps=data["requests"] / duration if duration else 0.0,
                p50_us=float(lat["p50"]), p99_us=float(lat["p99"]), p90_us=float(lat["p90"]),
                p999_us=float(lat["p999"]), mean_us=float(lat["mean"]),
                max_us=float(lat["max"]),
                socket_errors=sum(errors[k] for k in ("connect", "read", "write", "timeout")),
                non_2xx=errors["status"])
    return _parse_wrk_text(text)


def _parse_wrk_text(text: str) -> WrkResult:
    percentiles: dict[str, float] = {}
    requests = duration = rps = None
    mean = maximum = None
    socket_errors = non_2xx = 0
    in_distribution = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Latency Distribution"):
            in_distribution = True
            continue
        if in_distribution:
            match = re.match(r"^([\d.]+)%\s+(\S+)$", line)
            if match:
                percentiles[match.group(1)] = _duration_us(match.group(2))
                continue
            in_distribution = False
        match = re.match(r"^Latency\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if match:
            mean, maximum = _duration_us(match.group(1)), _duration_us(match.group(3))
            continue
        match = re.match(r"^(\d+) requests in ([\d.]+\w+),", line)
        if match:
            requests = int(match.group(1))
            duration = _duration_us(match.group(2)) / 1e6
            continue
        match = re.match(r"^Requests/sec:\s+([\d.]+)", line)
        if match:
            rps = float(match.group(1))
            continue
        match = re.match(r"^Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                         line)
        if match:
            socket_errors = sum(int(g) for g in match.groups())
            continue
        match = re.match(r"^Non-2xx or 3xx responses: (\d+)", line)
        if match:
            non_2xx = int(match.group(1))
    if requests is None or rps is None or "50" not in percentiles or "99" not in percentiles:
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise WrkError(f"unexpected wrk output (no requests/latency distribution):\n{tail}")
    return WrkResult(requests=requests, duration_s=duration or 0.0, rps=rps,
                     p50_us=percentiles["50"], p99_us=percentiles["99"],
                     p90_us=percentiles.get("90"), mean_us=mean, max_us=maximum,
                     socket_errors=socket_errors, non_2xx=non_2xx)


# -------------------------------------------------------------------------------------------
# CPU time of processes


CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """pid and every descendant (children of all its threads), depth first."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                text = Path(f"/proc/{current}/task/{tid}/children").read_text()
            except OSError:
                continue
            todo.extend(int(p) for p in text.split())
    return found


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of one process (all its threads), in clock ticks; (0, 0) if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)


def cpu_snapshot(roots: list[int]) -> dict[int, tuple[int, int]]:
    return {pid: cpu_ticks(pid) for root in roots for pid in process_tree(root)}


def cpu_seconds_between(before: dict[int, tuple[int, int]],
                        after: dict[int, tuple[int, int]]) -> tuple[float, float]:
    """(user, system) CPU seconds used between two snapshots by the processes seen in the
    second one (a process that appeared in between counts from zero)."""
    user = system = 0
    for pid, (u, s) in after.items():
        u0, s0 = before.get(pid, (0, 0))
        if u >= u0 and s >= s0:
            user += u - u0
            system += s - s0
    return user / CLK_TCK, system / CLK_TCK


def cpu_times() -> dict[str, tuple[int, int]]:
    """Per CPU (``cpu0`` ...): (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if name.startswith("cpu") and name != "cpu":
            values = [int(v) for v in rest.split()]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already in user
            out[name] = (total - idle, total)
    return out


def cpu_busy_between(before: dict[str, tuple[int, int]],
                     after: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Busy % of each CPU between two /proc/stat readings (all processes, softirq included)."""
    busy = {}
    for name, (b1, t1) in after.items():
        b0, t0 = before.get(name, (b1, t1))
        busy[name] = round(100 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else 0.0
    return busy


# -------------------------------------------------------------------------------------------
# results


@dataclass
class Target:
    key: str
    label: str
    port: int
    roots: list[int] = field(default_factory=list)   # PIDs whose CPU time counts
    placement: str = ""
    rounds: list[dict] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        rounds = self.rounds
        if not rounds:
            return {}

        def med(key: str) -> float | None:
            values = [r[key] for r in rounds if r.get(key) is not None]
            return statistics.median(values) if values else None

        busy = {cpu: statistics.median(r["cpu_busy_percent"][cpu] for r in rounds
                                       if cpu in r.get("cpu_busy_percent", {}))
                for cpu in rounds[0].get("cpu_busy_percent", {})}
        return {"rps": med("rps"), "p50_us": med("p50_us"), "p99_us": med("p99_us"),
                "cpu_percent": med("cpu_percent"), "cpu_us_per_request": med("cpu_us_per_request"),
                "user_us_per_request": med("user_us_per_request"),
                "sys_us_per_request": med("sys_us_per_request"), "cpu_busy_percent": busy,
                "rps_min": min(r["rps"] for r in rounds), "rps_max": max(r["rps"] for r in rounds),
                "errors": sum(r["socket_errors"] + r["non_2xx"] for r in rounds),
                "rounds": len(rounds)}


def round_record(result: WrkResult, cpu: tuple[float, float] | None,
                 busy: dict[str, float] | None = None) -> dict[str, Any]:
    """One measured run: wrk's numbers, the proxy's CPU (total % of one core; user and system
    microseconds per request) and how busy each CPU of the machine was."""
    record = asdict(result)
    keys = ("cpu_seconds", "cpu_percent", "cpu_us_per_request", "user_us_per_request",
            "sys_us_per_request")
    for key in keys:
        record[key] = None
    if cpu is not None and result.duration_s:
        user, system = cpu
        total = user + system
        record["cpu_seconds"] = round(total, 3)
        record["cpu_percent"] = round(100 * total / result.duration_s, 1)
        if result.requests:
            record["cpu_us_per_request"] = round(total * 1e6 / result.requests, 2)
            record["user_us_per_request"] = round(user * 1e6 / result.requests, 2)
            record["sys_us_per_request"] = round(system * 1e6 / result.requests, 2)
    record["cpu_busy_percent"] = busy or {}
    return record


def ratios(summaries: dict[str, dict], reference: str = "haproxy",
           rounds: dict[str, list[dict]] | None = None) -> dict[str, dict]:
    """Each lbapp target against the reference: req/s and p99 ratios of the medians; with
    ``rounds``, also the ratios of each round (run next to each other in time)."""
    ref = summaries.get(reference) or {}
    out = {}
    for key, s in summaries.items():
        if not key.startswith("lbapp") or not s or not ref.get("rps"):
            continue
        out[key] = {"rps_ratio": round(s["rps"] / ref["rps"], 3),
                    "p99_ratio": round(s["p99_us"] / ref["p99_us"], 3) if ref.get("p99_us") else None}
        if rounds and rounds.get(key) and rounds.get(reference):
            pairs = list(zip(rounds[key], rounds[reference]))
            out[key]["rps_ratio_per_round"] = [round(a["rps"] / b["rps"], 3) for a, b in pairs]
            out[key]["p99_ratio_per_round"] = [round(a["p99_us"] / b["p99_us"], 3)
                                               for a, b in pairs]
    return out


def _fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} us"


def print_table(console, targets: list[Target], summaries: dict[str, dict],
                ratio: dict[str, dict], reference: str = "haproxy") -> None:
    from rich.table import Table

    table = Table(title="proxy benchmark: median of the rounds")
    columns = ("target", "CPU pin", "req/s", "p50", "p99", "proxy CPU", "us/req usr+sys",
               "CPU0/CPU1 busy", "errors", "req/s ratio", "p99 ratio")
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "CPU pin") else "right",
                         no_wrap=True)
    for t in targets:
        s = summaries.get(t.key) or {}
        if not s:
            table.add_row(t.label, t.placement, *["-"] * (len(columns) - 2))
            continue
        r = ratio.get(t.key) or {}
        per_req = ("-" if s["user_us_per_request"] is None else
                   f"{s['user_us_per_request']:.1f}+{s['sys_us_per_request']:.1f}")
        machine = "/".join(f"{b:.0f}" for b in s.get("cpu_busy_percent", {}).values())
        table.add_row(
            t.label, t.placement, f"{s['rps']:,.0f}", _fmt_us(s["p50_us"]), _fmt_us(s["p99_us"]),
            "-" if s["cpu_percent"] is None else f"{s['cpu_percent']:.0f}%", per_req,
            machine + "%" if machine else "-", str(s["errors"]),
            f"{r['rps_ratio']:.2f}x" if r else "", f"{r['p99_ratio']:.2f}x" if r.get("p99_ratio") else "")
    console.print(table)
    console.print(f"ratios: lbapp / {reference} (req/s: higher is better; p99: lower is better)")


# -------------------------------------------------------------------------------------------
# the run


class Bench:
    def __init__(self, args: argparse.Namespace, console) -> None:
        self.args = args
        self.console = console
        self.lab = None
        self.procs: list[subprocess.Popen] = []
        self.targets: list[Target] = []
        self.run_dir: Path | None = None
        self.notes: list[str] = []

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False)

    # -- processes we start (stopped by PID at the end) ---------------------------------------
    def spawn(self, node: str, argv: list[str], log_name: str) -> subprocess.Popen:
        log = self.run_dir / f"{log_name}.log"
        proc = self.lab.popen(node, argv, log)
        proc.log_path = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def wait_http(self, node: str, host: str, port: int, path: str, what: str,
                  proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
        from lblab.lab import probes

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                log = getattr(proc, "log_path", None)
                tail = ""
                if log is not None and log.is_file():
                    tail = "\n".join("    " + line for line in
                                     log.read_text(errors="replace").splitlines()[-10:])
                raise RuntimeError(f"{what} exited with {proc.returncode} (log {log}):\n{tail}")
            if probes.http_ok(self.lab.ns(node), host, port, path, timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{what} did not answer http://{host}:{port}{path} within {timeout:.0f}s")

    # -- set-up ---------------------------------------------------------------------------------
    def start_nginx(self, node: str, name: str, conf_text: str, cpu: str | None) -> subprocess.Popen:
        directory = self.run_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        conf = directory / "nginx.conf"
        conf.write_text(conf_text)
        argv = ["nginx", "-e", str(directory / "error.log"), "-p", str(directory), "-c", str(conf)]
        if cpu is not None:
            argv = ["taskset", "-c", cpu, *argv]
        return self.spawn(node, argv, name)

    def start_lbserver(self, node: str, key: str, name: str, port: int, admin_port: int,
                       workers: int | None, tree: Path, cpu: str | None) -> subprocess.Popen:
        """A second lbapp LB server on the LB node (same LB config in etcd), from ``tree``."""
        from lblab.daemons.etcd import etcd_endpoints
        from lblab.daemons.redis import redis_url

        topo = self.lab.topo
        directory = self.run_dir / key
        directory.mkdir(parents=True, exist_ok=True)
        settings = directory / "lbserver.yaml"
        settings.write_text(render_lbserver_settings(
            self.lab.name, node, name, topo.service.lb_id, port, admin_port, workers,
            etcd_endpoints(topo), redis_url(topo), directory / "lbserver.log"))
        argv = ["env", f"PYTHONPATH={tree}", sys.executable, "-m", "lbapp.lbserver",
                "--settings", str(settings)]
        if cpu is not None:
            argv = ["taskset", "-c", cpu, *argv]
        proc = self.spawn(node, argv, key)
        self.wait_http(node, "127.0.0.1", admin_port, "/-/ready", f"lbapp {name}", proc)
        return proc

    def setup(self) -> None:
        from lblab.lab import configdb
        from lblab.daemons.etcd import etcd_endpoints
        from lblab.daemons.redis import redis_url

        a, lab = self.args, self.lab
        topo = lab.topo
        lb = a.lb_node
        edge = str(topo.nodes[lb].interfaces["edge"])
        backends = []
        for node in ("be1", "be2"):
            address = str(topo.nodes[node].interfaces["backend"])
            backends.append(BackendAddr(node, address, BACKEND_PORT))
            text = render_backend_conf(lab.name, node, self.run_dir / f"backend-{node}",
                                       f"0.0.0.0:{BACKEND_PORT}")
            proc = self.start_nginx(node, f"backend-{node}", text, a.client_cpu)
            self.wait_http(node, address, BACKEND_PORT, "/", f"nginx backend on {node}", proc)
        self.say(f"nginx backends on be1, be2 :{BACKEND_PORT} (CPU {a.client_cpu})")
        wanted = set(a.targets)

        if "direct" in wanted:
            text = render_backend_conf(lab.name, lb, self.run_dir / "direct", f"{edge}:{DIRECT_PORT}")
            proc = self.start_nginx(lb, "direct", text, a.proxy_cpu)
            self.wait_http(lb, edge, DIRECT_PORT, "/", "direct nginx", proc)
            self.targets.append(Target("direct", "backend direct", DIRECT_PORT,
                                       [proc.pid], a.proxy_cpu))

        if any(t.startswith("lbapp") for t in wanted):
            # Every lbapp LB of the lab (and those started here) follows this config.
            revision, written = configdb.put_config(lab, topo.service.lb_id, lb_config(backends))
            configdb.publish_changed(lab, topo.service.lb_id)
            configdb.wait_applied(lab, [lb], revision, written, timeout=30)

        if "lbapp" in wanted:
            daemon = lab.daemon(lb, "lbserver")
            main = lab.process_of(daemon)
            pids = process_tree(main.pid)
            for pid in pids:
                subprocess.run(["taskset", "-a", "-p", "-c", a.proxy_cpu, str(pid)],
                               check=True, capture_output=True)
            self.targets.append(Target("lbapp", "lbapp workers=1", topo.nodes[lb].port,
                                       [main.pid], a.proxy_cpu))
            self.say(f"lbapp LB on {lb}:{topo.nodes[lb].port} serving config revision {revision} "
                     f"(be1, be2 :{BACKEND_PORT}); pid {main.pid} pinned to CPU {a.proxy_cpu}")

        if "lbapp-baseline" in wanted:
            # lbapp from another source tree (e.g. `git archive OLD lbapp | tar -x -C DIR`),
            # one process pinned like the lab's own: before/after in the same run.
            proc = self.start_lbserver(lb, "lbapp-baseline", f"{lb}-base", LBAPP_BASELINE_PORT,
                                       LBAPP_BASELINE_ADMIN_PORT, None, Path(a.baseline_tree),
                                       a.proxy_cpu)
            self.targets.append(Target("lbapp-baseline", "lbapp baseline tree",
                                       LBAPP_BASELINE_PORT, [proc.pid], a.proxy_cpu))

        if a.lbapp_workers > 1 and "lbapp-multi" in wanted:
            proc = self.start_lbserver(lb, "lbapp-multi", f"{lb}-w{a.lbapp_workers}",
                                       LBAPP_MULTI_PORT, LBAPP_MULTI_ADMIN_PORT, a.lbapp_workers,
                                       ROOT, None)
            self.targets.append(Target("lbapp-multi", f"lbapp workers={a.lbapp_workers}",
                                       LBAPP_MULTI_PORT, [proc.pid], "none"))

        if "haproxy" in wanted:
            directory = self.run_dir / "haproxy"
            directory.mkdir(parents=True, exist_ok=True)
            cfg = directory / "haproxy.cfg"
            cfg.write_text(render_haproxy_cfg(lab.name, lb, directory, f"{edge}:{HAPROXY_PORT}",
                                              backends))
            proc = self.spawn(lb, ["taskset", "-c", a.proxy_cpu, "haproxy", "-db", "-f", str(cfg)],
                              "haproxy")
            self.wait_http(lb, edge, HAPROXY_PORT, "/", "haproxy", proc)
            self.targets.append(Target("haproxy", "HAProxy nbthread=1", HAPROXY_PORT,
                                       [proc.pid], a.proxy_cpu))

        if "nginx" in wanted:
            text = render_nginx_proxy_conf(lab.name, lb, self.run_dir / "nginx-proxy",
                                           f"{edge}:{NGINX_PROXY_PORT}", backends)
            proc = self.start_nginx(lb, "nginx-proxy", text, a.proxy_cpu)
            self.wait_http(lb, edge, NGINX_PROXY_PORT, "/", "nginx proxy", proc)
            self.targets.append(Target("nginx", "nginx proxy, 1 worker", NGINX_PROXY_PORT,
                                       [proc.pid], a.proxy_cpu))

        order = {k: i for i, k in enumerate(a.targets)}
        self.targets.sort(key=lambda t: order[t.key])
        self.check_answers(edge)

    def check_answers(self, edge: str) -> None:
        """Every target answers 200 with the backends' body from client1; proxies say who they are."""
        from lblab.lab import probes

        ns = self.lab.ns(self.args.client_node)
        for t in self.targets:
            status, headers, body = probes.http_get(ns, edge, t.port, "/", timeout=2)
            if status != 200 or body.strip() != BODY.encode():
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
                         f"p50 {_fmt_us(result.p50_us):>9}  p99 {_fmt_us(result.p99_us):>9}  "
                         f"CPU {cpu:>5} ({record['user_us_per_request']} us user + "
                         f"{record['sys_us_per_request']} us sys /req)  machine "
                         + " ".join(f"{c} {b:.0f}%" for c, b in busy.items())
                         + (f"  errors {result.socket_errors + result.non_2xx}"
                                            if result.socket_errors + result.non_2xx else ""))

    # -- the whole run ---------------------------------------------------------------------------
    def run(self) -> dict:
        from lblab.lab.instance import Lab, teardown

        a = self.args
        started = time.strftime("%Y%m%d-%H%M%S")
        self.say(f"bringing up lab {a.lab} (topology {a.topo})")
        self.lab = Lab.up(a.topo, name=a.lab, progress=lambda m: self.say(f"  {m}"))
        failed = True
        try:
            self.run_dir = self.lab.dir / "bench"
            self.run_dir.mkdir(parents=True, exist_ok=True)
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
                              "backends": f"nginx on be1, be2 :{BACKEND_PORT}, 1 worker each, "
                                          f"CPU {a.client_cpu}",
                              "proxies": f"lb1, CPU {a.proxy_cpu} (multi-worker lbapp: not pinned)"},
                "targets": [{"key": t.key, "label": t.label, "port": t.port, "where": t.placement,
                             "summary": summaries[t.key], "rounds": t.rounds}
                            for t in self.targets],
                "ratios_vs_haproxy": ratio,
                "goal": {"rps_ratio_min": 0.85, "p99_ratio_max": 1.3}}


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


ALL_TARGETS = ("direct", "lbapp", "lbapp-multi", "haproxy", "nginx")
EXTRA_TARGETS = ("lbapp-baseline",)  # added by --baseline-tree


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
    p.add_argument("--targets", default=",".join(ALL_TARGETS),
                   help=f"comma-separated subset of {','.join(ALL_TARGETS)}")
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
    p.add_argument("--out-dir", default=str(RESULTS_DIR), help="where the JSON result goes")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.baseline_tree:
        if not (Path(args.baseline_tree) / "lbapp" / "lbserver").is_dir():
            p.error(f"--baseline-tree {args.baseline_tree}: no lbapp/lbserver in it")
        args.baseline_tree = str(Path(args.baseline_tree).resolve())
        at = args.targets.index("lbapp") + 1 if "lbapp" in args.targets else 0
        args.targets.insert(at, "lbapp-baseline")
    unknown = sorted(set(args.targets) - set(ALL_TARGETS) - set(EXTRA_TARGETS))
    if unknown:
        p.error(f"unknown targets: {', '.join(unknown)} (known: {', '.join(ALL_TARGETS)})")
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
