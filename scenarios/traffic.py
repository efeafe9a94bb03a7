"""The traffic generator, run by the runner inside a client's network namespace::

    python -m scenarios.traffic --spec JSON|@FILE --out FILE.jsonl [--duration S]
                                [--start EPOCH | --start-file FILE] [--live]

Each stream of the spec sends at a fixed open-loop rate: operation k of a stream is due at
start + stream.start + k/rate whatever happened to earlier ones, so an outage shows as failed
or timed-out operations, not as fewer operations. Every operation is bounded by its timeout and
the process stops by itself at the deadline (in-flight operations get their timeout, then it
exits). Records go to the JSONL history (see scenarios.history), flushed every ~0.5 s.
``--live`` prints one summary line per second to stderr; ``Generator(on_record=...)`` is the
hook for anything fancier.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .dnsclient import CachingResolver, query
from .history import HistoryWriter
from .live import LiveReadout
from .httpclient import HttpClient
from .trafficspec import DnsStream, GeneratorSpec, HttpStream, SpecError, _is_ip, parse_generator_spec

Record = dict[str, Any]


class _StreamState:
    __slots__ = ("index", "spec", "scheduled", "sent", "missed", "seq")

    def __init__(self, index: int, spec: HttpStream | DnsStream):
        self.index = index
        self.spec = spec
        self.scheduled = self.sent = self.missed = 0
        self.seq = 0


class Generator:
    def __init__(self, spec: GeneratorSpec, writer: HistoryWriter,
                 on_record: Callable[[Record], None] | None = None,
                 live: Callable[[str], None] | None = None):
        self.spec = spec
        self.writer = writer
        self.on_record = on_record
        self.live = live
        self.readout = LiveReadout(spec.client) if live else None
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self.streams = [_StreamState(i, s) for i, s in enumerate(spec.streams)]
        self.stop_reason = "deadline"
        self._http_clients: dict[int, HttpClient] = {}

    def stop(self, reason: str = "signal") -> None:
        self.stop_reason = reason
        self._stop.set()

    def _emit(self, rec: Record) -> None:
        self.writer.write(rec)
        if self.readout is not None:
            self.readout(rec)
        if self.on_record is not None:
            self.on_record(rec)

    async def run(self, wait_start: Callable[[], Awaitable[float]] | None = None) -> dict:
        """Send until the deadline; return the end record. With ``wait_start``, write the meta
        record as soon as ready, then await the start time (epoch) from it."""
        loop = asyncio.get_running_loop()
        spec = self.spec
        ready = time.time()
        start_wall = None if wait_start is not None else (spec.start if spec.start is not None else ready)
        self.writer.write({"type": "meta", "client": spec.client, "pid": os.getpid(),
                           "ready": round(ready, 6), "start": start_wall, "duration": spec.duration,
                           "streams": [s.model_dump() for s in spec.streams]})
        self.writer.flush()
        if wait_start is not None:
            try:
                start_wall = await wait_start()
            except BaseException:
                self.stop_reason = "no_start"
                self._write_end()
                raise
            self.writer.write({"type": "start", "client": spec.client, "start": start_wall})
            self.writer.flush()
        now_wall = time.time()
        base = loop.time() + (start_wall - now_wall)      # monotonic instant of start_wall
        workers = [loop.create_task(self._schedule(st, base)) for st in self.streams]
        flusher = loop.create_task(self._flush_loop(base))
        stopper = loop.create_task(self._stop.wait())
        try:
            scheduling = asyncio.gather(*workers)
            await asyncio.wait([scheduling, stopper], return_when=asyncio.FIRST_COMPLETED)
            if scheduling.done() and scheduling.exception() is not None:
                raise scheduling.exception()
            for w in workers:
                w.cancel()
            scheduling.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # in-flight operations end by their own timeout; bound the wait anyway
            if self._inflight:
                grace = max(s.timeout + getattr(s, "resolve_timeout", 0.0) for s in spec.streams) + 0.5
                if self._stop.is_set():
                    grace = min(grace, 1.0)
                await asyncio.wait(self._inflight, timeout=grace)
            for t in list(self._inflight):
                t.cancel()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=1.0)
        finally:
            stopper.cancel()
            flusher.cancel()
            for c in self._http_clients.values():
                c.close()
            end = self._write_end()
        return end

    def _write_end(self) -> dict:
        end = {"type": "end", "client": self.spec.client, "t": round(time.time(), 6),
               "reason": self.stop_reason,
               "streams": [{"stream": st.index, "kind": st.spec.kind, "scheduled": st.scheduled,
                            "sent": st.sent, "missed": st.missed} for st in self.streams]}
        self.writer.write(end)
        self.writer.flush()
        return end

    async def _flush_loop(self, base: float) -> None:
        loop = asyncio.get_running_loop()
        interval = self.spec.flush_interval
        next_live = base + 1.0
        while True:
            await asyncio.sleep(min(interval, max(0.01, next_live - loop.time())) if self.live else interval)
            self.writer.flush()
            if self.live and loop.time() >= next_live:
                self.live(self.readout.line(next_live - base))
                next_live += 1.0

    # --- scheduling

    async def _schedule(self, st: _StreamState, base: float) -> None:
        loop = asyncio.get_running_loop()
        s = st.spec
        t_first = base + s.start
        t_end = base + (s.end if s.end is not None else self.spec.duration)
        t_end = min(t_end, base + self.spec.duration)
        period = 1.0 / s.rate
        total = max(0, math.ceil((t_end - t_first) * s.rate - 1e-9))
        st.scheduled = total
        op = self._make_op(st)
        max_lag = self.spec.max_lag
        limit = self.spec.max_inflight
        k = 0
        while k < total:
            due = t_first + k * period
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                now = loop.time()
            # everything due by now goes out in this pass
            while k < total and t_first + k * period <= now:
                lag = now - (t_first + k * period)
                if lag > max_lag or len(self._inflight) >= limit:
                    st.missed += 1        # the generator fell behind: not the system's failure
                else:
                    st.sent += 1
                    task = loop.create_task(op(st.seq, lag))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                st.seq += 1
                k += 1

    def _make_op(self, st: _StreamState):
        s = st.spec
        client = self.spec.client
        index = st.index
        if isinstance(s, DnsStream):
            async def dns_op(seq: int, lag: float) -> None:
                t_send = time.time()
                t0 = time.perf_counter()
                try:
                    ans = await query(s.name, s.server, s.timeout, s.qtype, s.port)
                except asyncio.CancelledError:
                    self._emit({"type": "dns", "client": client, "stream": index, "seq": seq,
                                "t_send": round(t_send, 6), "outcome": "cancelled",
                                "latency": round(time.perf_counter() - t0, 6)})
                    raise
                rec: Record = {"type": "dns", "client": client, "stream": index, "seq": seq,
                               "t_send": round(t_send, 6), "latency": round(time.perf_counter() - t0, 6),
                               "outcome": ans.outcome, "answers": list(ans.answers), "server": s.server,
                               "lag": round(lag, 4)}
                if ans.ttl is not None:
                    rec["ttl"] = ans.ttl
                if ans.err:
                    rec["err"] = ans.err
                self._emit(rec)
            return dns_op

        parts = urlsplit(s.url)
        host = parts.hostname
        port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        http = HttpClient(host_header, path, keepalive=s.keepalive)
        self._http_clients[index] = http
        resolver = None if _is_ip(host) else CachingResolver(
            s.resolver, s.resolve_timeout, port=self.spec.resolver_port)

        async def http_op(seq: int, lag: float) -> None:
            t_send = time.time()
            t0 = time.perf_counter()
            rec: Record = {"type": "http", "client": client, "stream": index, "seq": seq,
                           "t_send": round(t_send, 6)}
            ip = host
            try:
                async with asyncio.timeout(s.timeout):
                    if resolver is not None:
                        ip, failed = await resolver.resolve(host)
                        if failed is not None:
                            rec["outcome"] = "dns_fail"
                            rec["err"] = failed.outcome if not failed.err else f"{failed.outcome}: {failed.err}"
                    if ip is not None:
                        res = await http.get(ip, port)
                        rec["outcome"] = res.outcome
                        if res.status is not None:
                            rec["status"] = res.status
                        if res.lb is not None:
                            rec["lb"] = res.lb
                        if res.backend is not None:
                            rec["backend"] = res.backend
                        if res.sport is not None:
                            rec["sport"] = res.sport
                        if res.err:
                            rec["err"] = res.err
                        if res.reused:
                            rec["reused"] = True
            except TimeoutError:
                rec["outcome"] = "timeout" if ip is not None else "dns_fail"
                if ip is None:
                    rec["err"] = "timeout"
            except asyncio.CancelledError:
                # the generator is stopping (signal): not judged as a failure of the system
                rec.update(outcome="cancelled", latency=round(time.perf_counter() - t0, 6))
                self._emit(rec)
                raise
            except Exception as exc:   # noqa: BLE001 - record, never crash the generator
                rec["outcome"] = f"error:{type(exc).__name__}"
                rec["err"] = str(exc)[:200]
            rec["latency"] = round(time.perf_counter() - t0, 6)
            if ip is not None:
                rec["ip"] = ip
            rec["lag"] = round(lag, 4)
            self._emit(rec)
        return http_op


def _read_spec(arg: str) -> str:
    if arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as f:
            return f.read()
    return arg


class NoStart(Exception):
    pass


def start_file_waiter(path: str, timeout: float, stopped: asyncio.Event | None = None):
    """An awaitable factory: poll ``path`` until it holds the start epoch (written atomically
    by the runner once every generator is ready)."""
    async def wait() -> float:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if stopped is not None and stopped.is_set():
                raise NoStart("stopped before the start time arrived")
            try:
                return float(Path(path).read_text().strip())
            except (FileNotFoundError, ValueError):
                await asyncio.sleep(0.01)
        raise NoStart(f"no start time in {path} within {timeout:g}s")
    return wait


def _loop_factory():
    try:
        import uvloop
        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scenarios.traffic", description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", required=True, help="generator spec as JSON, or @FILE")
    ap.add_argument("--out", required=True, help="history file (JSONL, appended)")
    ap.add_argument("--duration", type=float, help="override the spec's duration (s)")
    ap.add_argument("--start", type=float, help="override the spec's start (epoch seconds)")
    ap.add_argument("--start-file", help="once ready, wait for this file to hold the start epoch")
    ap.add_argument("--start-wait", type=float, default=30.0, help="how long to wait for --start-file (s)")
    ap.add_argument("--live", action="store_true", help="one summary line per second on stderr")
    ap.add_argument("--no-uvloop", action="store_true")
    args = ap.parse_args(argv)
    try:
        spec = parse_generator_spec(_read_spec(args.spec))
        override = {}
        if args.duration is not None:
            override["duration"] = args.duration
        if args.start is not None:
            override["start"] = args.start
        if override:
            spec = parse_generator_spec({**spec.model_dump(), **override})
    except (SpecError, OSError) as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    try:
        writer = HistoryWriter(args.out)
    except OSError as exc:
        print(f"traffic: cannot open {args.out}: {exc}", file=sys.stderr)
        return 2

    def live(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    factory = None if args.no_uvloop else _loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        gen = Generator(spec, writer, live=live if args.live else None)
        loop = runner.get_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gen.stop)
        waiter = start_file_waiter(args.start_file, args.start_wait, gen._stop) if args.start_file else None
        try:
            runner.run(gen.run(waiter))
        except NoStart as exc:
            print(f"traffic: {exc}", file=sys.stderr)
            return 3
        finally:
            writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
