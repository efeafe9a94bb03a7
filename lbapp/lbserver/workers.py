"""Several worker processes behind one LB server (settings ``workers`` > 1).

The process started as ``python -m lbapp.lbserver --settings FILE`` becomes a supervisor:

- it starts ``workers`` worker processes (``python -m lbapp.lbserver --settings FILE --worker I
  ...``). Each is a complete LB server (config sync, proxy, sweeper, drain) that binds every
  ``listen`` address with SO_REUSEPORT, so the kernel spreads new connections over the
  workers, and serves its admin endpoint on a Unix socket in a private directory;
- it serves ``admin_listen`` itself by asking every worker: ``/-/healthy`` (the supervisor
  runs), ``/-/ready`` (200 only if every worker answers ready and the supervisor is not
  draining), ``/-/status`` (``merge_status``: the lowest config version any worker serves, and
  each worker), ``/metrics`` (``merge_metrics``: every worker's series with a ``worker``
  label, plus ``lbapp_lb_workers``), ``POST /-/drain``;
- SIGTERM, SIGINT or ``POST /-/drain``: ``/-/ready`` turns 503 and every worker is sent
  SIGTERM (each drains as a single LB server does); the supervisor exits 0 once all have;
- a worker that exits otherwise is restarted (1 s, doubling up to 10 s while it keeps dying).
  A worker that cannot start at first (e.g. an address in use) makes the supervisor exit 1;
- workers die with the supervisor (PR_SET_PDEATHSIG: SIGKILL), so killing the supervisor is
  killing the LB server.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from lbapp.lbserver.admin import admin_application, serve
from lbapp.lbserver.settings import Settings

log = logging.getLogger("lbapp.lbserver")

ASK_TIMEOUT = 1.0            # s, per worker admin request
START_TIMEOUT = 30.0         # s, for every worker's admin socket to answer at start-up
RESTART_DELAY = (1.0, 10.0)  # s, backoff of restarts of a worker that keeps dying
STABLE_AFTER = 10.0          # s up: the next death restarts after the first delay again
PR_SET_PDEATHSIG = 1


# -- the worker side -------------------------------------------------------------------------

def die_with_parent(parent_pid: int) -> None:
    """In a worker: get SIGKILL when the supervisor dies; exit now if it is already gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: best effort
        pass
    if os.getppid() != parent_pid:
        sys.exit(1)


# -- asking a worker -------------------------------------------------------------------------

async def ask(path: str, target: str, method: str = "GET",
              timeout: float = ASK_TIMEOUT) -> tuple[int, bytes]:
    """One HTTP/1.0 request to a worker's admin Unix socket -> (status, body)."""
    async def exchange() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            writer.write(f"{method} {target} HTTP/1.0\r\nHost: worker\r\n"
                         "Content-Length: 0\r\n\r\n".encode())
            data = await reader.read()
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split()
        if len(status_line) < 2 or not status_line[1].isdigit():
            raise ConnectionError(f"bad answer from {path}: {head[:60]!r}")
        return int(status_line[1]), body

    return await asyncio.wait_for(exchange(), timeout)


# -- merging what the workers say ------------------------------------------------------------

def merge_status(name: str, lb_id: str, draining: bool,
                 workers: list[tuple[int, int | None, dict | None]]) -> dict:
    """The supervisor's /-/status from each worker's: (index, pid or None if not running,
    its /-/status document or None if it did not answer).

    ``config`` is that of the worker serving the lowest version (for equal versions, the
    latest applied_at): every worker serves at least that version since then. It is None
    while any worker has no config or does not answer."""
    docs = [doc for _, _, doc in workers if doc is not None]
    summary = []
    for index, pid, doc in workers:
        config = (doc or {}).get("config") or {}
        summary.append({"index": index, "pid": pid, "running": pid is not None,
                        "answered": doc is not None,
                        "ready": bool(doc and doc.get("ready")),
                        "not_ready_reason": None if doc is None else doc.get("not_ready_reason"),
                        "config_version": config.get("version"),
                        "client_connections": (doc or {}).get("client_connections", 0)})
    config = None
    if docs and len(docs) == len(workers) and all(d.get("config") for d in docs):
        lowest = min(d["config"]["version"] for d in docs)
        config = dict(max((d["config"] for d in docs if d["config"]["version"] == lowest),
                          key=lambda c: c.get("applied_at") or 0))
        if config.get("applied_at"):
            config["age_seconds"] = round(time.time() - config["applied_at"], 3)
    reason = None
    if draining:
        reason = "draining"
    else:
        for item in summary:
            if not item["running"]:
                reason = f"worker {item['index']} not running"
            elif not item["answered"]:
                reason = f"worker {item['index']} does not answer"
            elif not item["ready"]:
                reason = f"worker {item['index']}: {item['not_ready_reason']}"
            if reason:
                break
    refreshes: dict[str, int] = {}
    for d in docs:
        for key, count in (d.get("config_refreshes") or {}).items():
            refreshes[key] = refreshes.get(key, 0) + count
    backends: dict[str, dict] = {}
    for d in docs:
        for b in d.get("backends") or []:
            have = backends.get(b["name"])
            if have is None:
                backends[b["name"]] = dict(b)
            else:
                have["healthy"] = have["healthy"] and b["healthy"]
                have["ejected"] = have["ejected"] or b["ejected"]
                have["idle_connections"] += b["idle_connections"]
                have["connections"] += b["connections"]
    return {
        "name": name, "lb_id": lb_id, "workers": summary,
        "ready": reason is None, "not_ready_reason": reason,
        "draining": draining or any(d.get("draining") for d in docs),
        "config": config,
        "config_rejected": max((d.get("config_rejected", 0) for d in docs), default=0),
        "config_refreshes": dict(sorted(refreshes.items())),
        "redis_connected": bool(docs) and all(d.get("redis_connected") for d in docs),
        "etcd_reachable": bool(docs) and all(d.get("etcd_reachable") for d in docs),
        "client_connections": sum(d.get("client_connections", 0) for d in docs),
        "connections": sum_counts([d.get("connections") or {} for d in docs]),
        "ejected": sorted({name for d in docs for name in d.get("ejected") or []}),
        "backends": list(backends.values()),
    }


def sum_counts(docs: list[dict]) -> dict:
    """Numbers summed key by key, nested dicts likewise (the workers' ``connections``)."""
    total: dict = {}
    for doc in docs:
        for key, value in doc.items():
            if isinstance(value, dict):
                total[key] = sum_counts([total.get(key) or {}, value])
            elif isinstance(value, (int, float)):
                total[key] = total.get(key, 0) + value
    return total


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self):
        return self.families


def merge_metrics(texts: list[tuple[int, str]], configured: int) -> bytes:
    """One exposition of every worker's metrics, each sample labelled ``worker="I"``."""
    merged: dict[str, Metric] = {}
    for index, text in texts:
        for family in text_string_to_metric_families(text):
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Metric(family.name, family.documentation,
                                                    family.type, family.unit)
            for sample in family.samples:
                into.samples.append(sample._replace(labels={"worker": str(index),
                                                            **sample.labels}))
    workers = GaugeMetricFamily("lbapp_lb_workers", "Worker processes: configured, and "
                                "answering the supervisor.", labels=["state"])
    workers.add_metric(["configured"], configured)
    workers.add_metric(["answering"], len(texts))
    registry = CollectorRegistry()
    registry.register(_Families([workers, *merged.values()]))
    return generate_latest(registry)


# -- the supervisor --------------------------------------------------------------------------

@dataclass
class Worker:
    index: int
    socket: str
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    delay: float = RESTART_DELAY[0]
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, settings: Settings, settings_path: str) -> None:
        self.settings = settings
        self.settings_path = os.path.abspath(settings_path)
        self.dir = tempfile.mkdtemp(prefix=f"lbapp-{settings.name}-")
        self.workers = [Worker(i, os.path.join(self.dir, f"w{i}.sock"))
                        for i in range(settings.workers)]
        self.draining = False
        self._stopped: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []

    # -- workers --------------------------------------------------------------------------
    async def _spawn(self, worker: Worker) -> None:
        try:
            os.unlink(worker.socket)
        except FileNotFoundError:
            pass
        worker.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lbapp.lbserver", "--settings", self.settings_path,
            "--worker", str(worker.index), "--worker-admin", worker.socket,
            "--parent-pid", str(os.getpid()), stdin=asyncio.subprocess.DEVNULL)
        worker.started = time.monotonic()
        log.info("%s: worker %d started (pid %d)", self.settings.name, worker.index,
                 worker.proc.pid)

    async def _watch(self, worker: Worker) -> None:
        """Restart the worker whenever it exits, until the supervisor drains."""
        while True:
            code = await worker.proc.wait()
            worker.exits.append(code)
            if self.draining:
                return
            up = time.monotonic() - worker.started
            if up > STABLE_AFTER:
                worker.delay = RESTART_DELAY[0]
            log.warning("%s: worker %d (pid %d) exited with %s after %.1f s; restarting in "
                        "%.1f s", self.settings.name, worker.index, worker.proc.pid, code, up,
                        worker.delay)
            await asyncio.sleep(worker.delay)
            worker.delay = min(worker.delay * 2, RESTART_DELAY[1])
            if self.draining:
                return
            worker.restarts += 1
            await self._spawn(worker)

    def running(self, worker: Worker) -> bool:
        return worker.proc is not None and worker.proc.returncode is None

    async def _started(self) -> None:
        """Wait until every worker's admin socket answers; a worker exiting first is fatal."""
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.workers)
        while pending:
            for worker in list(pending):
                if not self.running(worker):
                    raise RuntimeError(f"worker {worker.index} exited with "
                                       f"{worker.proc.returncode} while starting")
                try:
                    status, _ = await ask(worker.socket, "/-/healthy", timeout=0.5)
                except (OSError, asyncio.TimeoutError, ConnectionError):
                    continue
                if status == 200:
                    pending.remove(worker)
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"workers {[w.index for w in pending]} did not start within "
                                   f"{START_TIMEOUT:.0f} s")
            if pending:
                await asyncio.sleep(0.05)

    async def gather(self, target: str) -> list[tuple[Worker, int | None, bytes | None]]:
        """Ask every running worker; (worker, status, body), None where it did not answer."""
        async def one(worker: Worker):
            if not self.running(worker):
                return worker, None, None
            try:
                status, body = await ask(worker.socket, target)
                return worker, status, body
            except (OSError, asyncio.TimeoutError, ConnectionError):
                return worker, None, None

        return list(await asyncio.gather(*(one(w) for w in self.workers)))

    # -- admin ------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        s = self.settings

        async def healthy(_: web.Request) -> web.Response:
            return web.Response(text="ok\n")

        async def status_doc() -> dict:
            answers = await self.gather("/-/status")
            workers = []
            for worker, status, body in answers:
                doc = None
                if status == 200:
                    try:
                        doc = json.loads(body)
                    except ValueError:
                        doc = None
                workers.append((worker.index, worker.proc.pid if self.running(worker) else None,
                                doc))
            return merge_status(s.name, s.lb_id, self.draining, workers)

        async def ready(_: web.Request) -> web.Response:
            if self.draining:
                return web.Response(status=503, text="not ready: draining\n")
            for worker, status, body in await self.gather("/-/ready"):
                if status != 200:
                    why = (body.decode(errors="replace").strip().removeprefix("not ready: ")
                           if status is not None
                           else "not running" if not self.running(worker) else "no answer")
                    return web.Response(status=503,
                                        text=f"not ready: worker {worker.index}: {why}\n")
            return web.Response(text="ready\n")

        async def status(_: web.Request) -> web.Response:
            return web.json_response(await status_doc())

        async def metrics(_: web.Request) -> web.Response:
            texts = [(w.index, body.decode()) for w, code, body in await self.gather("/metrics")
                     if code == 200]
            body = merge_metrics(texts, len(self.workers))
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return admin_application(metrics=metrics, healthy=healthy, ready=ready, status=status,
                                 start_drain=self.start_drain)

    # -- drain -------------------------------------------------------------------------------
    def start_drain(self, why: str) -> None:
        if self.draining:
            return
        self.draining = True
        log.info("%s: drain started by %s: draining %d workers", self.settings.name, why,
                 len(self.workers))
        self._tasks.append(asyncio.get_running_loop().create_task(self._drain()))

    async def _drain(self) -> None:
        for worker in self.workers:
            if self.running(worker):
                worker.proc.send_signal(signal.SIGTERM)
        s = self.settings
        limit = (s.drain_grace_ms + s.drain_timeout_ms) / 1000 + 5.0
        running = [w.proc.wait() for w in self.workers if self.running(w)]
        if running:
            try:
                await asyncio.wait_for(asyncio.gather(*running), limit)
            except asyncio.TimeoutError:
                for worker in self.workers:
                    if self.running(worker):
                        log.warning("worker %d still running %.0f s into the drain: killing",
                                    worker.index, limit)
                        worker.proc.kill()
        log.info("%s: every worker has stopped", s.name)
        if not self._stopped.done():
            self._stopped.set_result(0)

    # -- the whole life ----------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        s = self.settings
        runner = None
        try:
            for worker in self.workers:
                await self._spawn(worker)
            try:
                await self._started()
            except RuntimeError as exc:
                log.error("%s: cannot start: %s", s.name, exc)
                return 1
            for worker in self.workers:
                self._tasks.append(loop.create_task(self._watch(worker)))
            runner = await serve(self.build_app(), s.admin_addresses)
            log.info("%s (lb %s): %d workers; admin on %s", s.name, s.lb_id, len(self.workers),
                     ", ".join(s.admin_list))
            loop.add_signal_handler(signal.SIGTERM, self.start_drain, "SIGTERM")
            loop.add_signal_handler(signal.SIGINT, self.start_drain, "SIGINT")
            code = await self._stopped
            log.info("%s: stopped", s.name)
            return code
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for worker in self.workers:
                if self.running(worker):
                    worker.proc.kill()
                    await worker.proc.wait()
            if runner is not None:
                await runner.cleanup()
            shutil.rmtree(self.dir, ignore_errors=True)
