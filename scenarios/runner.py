"""Running a scenario against a built lab (the nemesis + the history collection + the checker).

run_scenario(lab, scenario, out_dir):
  1. checks the scenario against the lab (nodes, roles, daemons, topology) — nothing started yet;
  2. starts one traffic generator per client inside its namespace; once every one is ready
     (bounded wait), announces the common start t0 (an epoch) through out_dir/start;
  3. waits until every generator has written its first operation (bounded), else aborts;
  4. applies the faults at t0 + at, in time order, while a poller thread samples the routes
     that route_nexthops checks need (then ``RunOptions.during``, if given: the chaos soak);
  5. waits for the generators to stop by themselves (bounded; then SIGTERM, then SIGKILL);
  6. always (finally) stops leftover generators and calls lab.heal_all();
  7. loads the histories, analyses them, judges the checks, writes out_dir/result.json;
  8. writes out_dir/report.html and its figures (scenarios.htmlreport; never fails the run).
Files in out_dir: history-<client>.jsonl, generator-<client>.log, scenario.json, result.json,
report.html, *.png, and orchestrator-<member>.jsonl (each orchestrator member's check history
during the run, see scenarios.orchhistory).
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import analysis, orchhistory
from .checks import Context, RoutePoll, judge_all, route_targets
from .history import count_lines, load_history
from .labapi import FaultSkipped, Lab
from .live import HistoryTail, LiveReadout
from .report import build_result, write_result
from .spec import Scenario, ScenarioError, check_against_lab
from .trafficspec import for_client


class RunAborted(Exception):
    """The run could not go on (a generator did not start, a fault failed)."""


@dataclass
class RunOptions:
    ready_timeout: float = 20.0     # every generator must be up (meta record) within this
    start_margin: float = 0.3       # t0 = the moment all are ready + this
    send_timeout: float = 3.0       # after t0, every generator must have sent within this
    poll_interval: float = 0.05     # route polls
    poll_margin: float = 0.5        # also poll this long before/after each route window
    exit_grace: float = 3.0         # beyond duration + timeouts before generators are stopped
    live: Callable[[str], None] | None = None   # one aggregated line per second
    log: Callable[[str], None] | None = None    # progress messages
    # runs while the traffic flows, after the scenario's own faults (the chaos soak's nemesis);
    # it may append entries to run.faults, which the result and the report then show
    during: Callable[["_Run"], None] | None = None
    routes: tuple[tuple[str, str], ...] = ()    # (router, prefix) also polled the whole run


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


class _RoutePoller(threading.Thread):
    def __init__(self, lab: Lab, t0: float, targets: dict[tuple[str, str], list[tuple[float, float]]],
                 interval: float, margin: float):
        super().__init__(name="route-poller", daemon=True)
        self.lab, self.t0, self.targets = lab, t0, targets
        self.interval, self.margin = interval, margin
        self.polls: dict[tuple[str, str], list[RoutePoll]] = {k: [] for k in targets}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            tick = time.time()
            rel = tick - self.t0
            for key, windows in self.targets.items():
                if any(lo - self.margin <= rel <= hi + self.margin for lo, hi in windows):
                    t = time.time() - self.t0
                    try:
                        hops = list(self.lab.route_nexthops(*key))
                        self.polls[key].append(RoutePoll(round(t, 4), sorted(hops)))
                    except Exception as exc:  # noqa: BLE001 - a failed poll is data
                        self.polls[key].append(RoutePoll(round(t, 4), None, f"{type(exc).__name__}: {exc}"))
            self.stopping.wait(max(0.0, self.interval - (time.time() - tick)))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


class _Run:
    def __init__(self, lab: Lab, scenario: Scenario, out_dir: Path, opts: RunOptions):
        self.lab, self.scenario, self.out, self.opts = lab, scenario, out_dir, opts
        self.procs: dict[str, subprocess.Popen] = {}
        self.histories: dict[str, Path] = {}
        self.faults: list[dict[str, Any]] = []
        self.t0: float | None = None
        self.poller: _RoutePoller | None = None
        self._tails: list[HistoryTail] = []
        self._readout = LiveReadout("all")
        self._next_live: float | None = None

    def log(self, msg: str) -> None:
        if self.opts.log:
            rel = f"+{time.time() - self.t0:6.2f}s " if self.t0 else ""
            self.opts.log(rel + msg)

    # ---------------------------------------------------------------- waiting with live output

    def _tick(self) -> None:
        if not self.opts.live or self.t0 is None:
            return
        now = time.time()
        if self._next_live is None:
            self._next_live = self.t0 + 1.0
        for tail in self._tails:
            for rec in tail.read():
                self._readout(rec)
        if now >= self._next_live:
            self.opts.live(self._readout.line(self._next_live - self.t0))
            self._next_live += 1.0

    def sleep_until(self, when: float) -> None:
        while True:
            self._tick()
            left = when - time.time()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    # ------------------------------------------------------------------------------ phases

    def start_generators(self) -> None:
        """Launch every generator; they wait, once ready, for the start file."""
        sc, lab = self.scenario, self.lab
        self.start_file = self.out / "start"
        self.start_file.unlink(missing_ok=True)
        for client in sc.clients():
            spec = for_client(sc, client, lab.dns_vip, None)
            if spec is None:
                continue
            hist = self.out / f"history-{client}.jsonl"
            hist.unlink(missing_ok=True)
            self.histories[client] = hist
            self._tails.append(HistoryTail(hist))
            argv = [lab.python, "-m", "scenarios.traffic", "--spec", spec.model_dump_json(), "--out", str(hist),
                    "--start-file", str(self.start_file), "--start-wait", f"{self.opts.ready_timeout + 10:g}"]
            self.procs[client] = lab.popen(client, argv, str(self.out / f"generator-{client}.log"))
        self.log(f"started {len(self.procs)} generator(s)")

    def _wait_all(self, what: str, types: tuple[str, ...], deadline: float) -> None:
        waiting = set(self.procs)
        while waiting:
            for client in sorted(waiting):
                proc = self.procs[client]
                if count_lines(self.histories[client], types) > 0:
                    waiting.discard(client)
                elif proc.poll() is not None:
                    raise RunAborted(f"generator on {client} exited with {proc.returncode} before {what}: "
                                     f"{self._log_tail(client)}")
            if not waiting:
                return
            if time.time() > deadline:
                raise RunAborted(f"generator(s) on {', '.join(sorted(waiting))} not {what} within the time allowed")
            self._tick()
            time.sleep(0.02)

    def wait_ready(self) -> None:
        """All generators up -> t0 = now + margin, announced through the start file."""
        self._wait_all("being ready", ("meta",), time.time() + self.opts.ready_timeout)
        t0 = time.time() + self.opts.start_margin
        tmp = self.start_file.with_suffix(".tmp")
        tmp.write_text(f"{t0:.6f}\n")
        tmp.replace(self.start_file)
        self.t0 = t0
        self.log("all generators ready")

    def wait_sending(self) -> None:
        self.sleep_until(self.t0)
        self._wait_all("sending", ("http", "dns"), self.t0 + self.opts.send_timeout)
        self.log("all generators sending")

    def _log_tail(self, client: str) -> str:
        try:
            text = (self.out / f"generator-{client}.log").read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        return " | ".join(text.splitlines()[-3:]) or "(empty log)"

    def apply_faults(self) -> None:
        order = self.scenario.faults_in_order()
        for pos, (index, fault) in enumerate(order):
            self.sleep_until(self.t0 + fault.at)
            entry: dict[str, Any] = {"index": index, "at": fault.at, "action": fault.action,
                                     "params": fault.params(), "status": "pending"}
            if fault.note:
                entry["note"] = fault.note
            self.faults.append(entry)
            started = time.time()
            entry["applied_at"] = round(started - self.t0, 4)
            try:
                record = self.lab.fault(fault.action, **fault.params())
                entry["status"] = "applied"
                entry["record"] = _jsonable(record)
                self.log(f"fault {fault.action} {entry['params']} applied")
            except FaultSkipped as exc:
                entry["status"] = "skipped"
                entry["detail"] = str(exc) or "skipped"
                self.log(f"fault {fault.action} skipped: {entry['detail']}")
            except Exception as exc:
                entry["status"] = "failed"
                entry["detail"] = f"{type(exc).__name__}: {exc}"
                for idx, later in order[pos + 1:]:
                    self.faults.append({"index": idx, "at": later.at, "action": later.action,
                                        "params": later.params(), "status": "not_reached"})
                raise RunAborted(f"fault {index} ({fault.action}) failed: {entry['detail']}") from exc
            finally:
                entry["took"] = round(time.time() - started, 4)

    def wait_generators(self) -> None:
        sc = self.scenario
        deadline = self.t0 + sc.duration + sc.max_timeout() + self.opts.exit_grace
        for client, proc in self.procs.items():
            while proc.poll() is None and time.time() < deadline:
                self._tick()
                time.sleep(0.1)
        self._tick()
        late = [c for c, p in self.procs.items() if p.poll() is None]
        if late:
            self.log(f"generator(s) still running at the deadline: {', '.join(late)}")

    def stop_generators(self) -> None:
        running = [p for p in self.procs.values() if p.poll() is None]
        for p in running:
            p.terminate()
        end = time.time() + 2.0
        for p in running:
            try:
                p.wait(timeout=max(0.0, end - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    pass

    def heal(self) -> dict[str, Any]:
        started = time.time()
        try:
            record = self.lab.heal_all()
            out = {"status": "ok", "record": _jsonable(record)}
        except Exception as exc:  # noqa: BLE001 - reported in the result, must not mask the run
            out = {"status": "failed", "detail": f"{type(exc).__name__}: {exc}"}
        out["at"] = round(started - self.t0, 4) if self.t0 else None
        out["took"] = round(time.time() - started, 4)
        self.log(f"healed: {out['status']}")
        return out


def run_scenario(lab: Lab, scenario: Scenario, out_dir: str | Path, *, options: RunOptions | None = None,
                 source: str | None = None) -> dict[str, Any]:
    """Run one scenario; return (and write to out_dir/result.json) the result document.
    Raises ScenarioError, before anything is started, when the scenario does not fit the lab."""
    opts = options or RunOptions()
    check_against_lab(scenario, lab, source or f"scenarios/{scenario.name}.yaml")
    out = Path(out_dir).resolve()       # generators may run with another working directory
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.json").write_text(scenario.model_dump_json(indent=1) + "\n", encoding="utf-8")

    run = _Run(lab, scenario, out, opts)
    error: str | None = None
    heal: dict[str, Any] | None = None
    # polled for the whole run (the checks judge only their windows): the report plots them
    targets = {key: windows + [(0.0, scenario.duration)] for key, windows in route_targets(scenario).items()}
    for key in opts.routes:
        targets.setdefault(key, []).append((0.0, scenario.duration))
    marks = orchhistory.mark(lab.orchestrator_histories())
    try:
        run.start_generators()
        run.wait_ready()
        if targets:
            run.poller = _RoutePoller(lab, run.t0, targets, opts.poll_interval, opts.poll_margin)
            run.poller.start()
        run.wait_sending()
        run.apply_faults()
        if opts.during is not None:
            opts.during(run)
        run.wait_generators()
    except RunAborted as exc:
        error = str(exc)
        run.log(f"aborted: {error}")
    except Exception as exc:  # noqa: BLE001 - record it; heal and judge what we have
        error = f"{type(exc).__name__}: {exc}"
        run.log(f"aborted: {error}")
    finally:
        # on KeyboardInterrupt too: never leave generators running or faults applied
        if run.poller is not None:
            run.poller.stop()
        run.stop_generators()
        heal = run.heal()

    seen = {f["index"] for f in run.faults}
    run.faults += [{"index": i, "at": f.at, "action": f.action, "params": f.params(), "status": "not_reached"}
                   for i, f in enumerate(scenario.faults) if i not in seen]
    history = load_history(run.histories.values())
    orchestrator = orchhistory.collect(marks, out)
    t0 = run.t0 if run.t0 is not None else (history.start() or time.time())
    gap, bucket = scenario.analysis.gap, scenario.analysis.bucket
    numbers = analysis.analyze(history, t0, scenario.duration, gap=gap, bucket=bucket)
    ctx = Context(history=history, t0=t0, duration=scenario.duration, gap=gap,
                  backends=lab.node_names("backend"), lbs=lab.node_names("lb"),
                  route_polls=run.poller.polls if run.poller else {}, faults=run.faults,
                  orchestrator=orchestrator)
    checks = judge_all(scenario, ctx)
    if heal and heal.get("status") != "ok" and not error:
        error = f"heal_all failed: {heal.get('detail')}"
    result = build_result(
        scenario, lab=getattr(lab, "name", None), t0=t0, analysis=numbers, checks=checks,
        faults=sorted(run.faults, key=lambda f: (f["at"], f["index"])), heal=heal,
        route_polls=ctx.route_polls, error=error,
        files={"histories": {c: str(p) for c, p in run.histories.items()},
               "logs": {c: str(out / f"generator-{c}.log") for c in run.histories},
               "orchestrator": orchestrator.files})
    write_result(result, out / "result.json")
    write_report_files(result, out, run.log)
    return result


def write_report_files(result: dict[str, Any], out: Path, log: Callable[[str], None]) -> None:
    """report.html and its figures; a report that cannot be drawn never fails the run."""
    try:
        from .htmlreport import write_report

        result["files"]["report"] = str(write_report(out))
    except Exception as exc:  # noqa: BLE001 - logged and recorded, the run's verdict stands
        result["files"]["report_error"] = f"{type(exc).__name__}: {exc}"
        log(f"report not written: {result['files']['report_error']}")
    write_result(result, out / "result.json")


__all__ = ["RunOptions", "RunAborted", "ScenarioError", "run_scenario", "write_report_files"]
