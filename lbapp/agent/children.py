"""The agent's children: start one (and wait until it is ready), stop one (drain, then signals).

Each child gets SIGTERM if the agent dies (PR_SET_PDEATHSIG), so a killed agent leaves no
orphan serving traffic the lab no longer tracks; SIGTERM makes the LB server drain and the
announcer withdraw.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import aiohttp

from lbapp.agent.settings import ChildSpec
from lbapp.agent.zygote import PR_SET_PDEATHSIG, ReparentedProcess, Zygote, prctl
from lbapp.prefork import python_module

log = logging.getLogger("lbapp.agent.children")

KILL_WAIT = 5.0
POLL = 0.05


def _die_with_agent() -> None:  # runs in the child between fork and exec
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def http_status(url: str, method: str = "GET", timeout: float = 1.0) -> int | None:
    """Status code of one request, None if there was no answer."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.request(method, url) as resp:
                return resp.status
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


class Child:
    def __init__(self, spec: ChildSpec, zygote: Zygote | None = None) -> None:
        self.spec = spec
        self.zygote = zygote
        self.proc: asyncio.subprocess.Process | ReparentedProcess | None = None
        self.started_at = 0.0
        self.starts = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running() else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        spec = self.spec
        found = python_module(spec.argv) if self.zygote is not None else None
        pid = None if found is None else self.zygote.spawn(*found, spec.env, spec.cwd, spec.log_file)
        if pid is not None:
            self.proc = ReparentedProcess(pid)
            how = "forked from the zygote"
        else:
            await self._exec()
            how = "new process"
        self.started_at = time.monotonic()
        self.starts += 1
        log.info("started %s (pid %d, %s): %s", self.name, self.proc.pid, how, " ".join(spec.argv))

    async def _exec(self) -> None:
        spec = self.spec
        out = open(spec.log_file, "ab") if spec.log_file else None
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *spec.argv, env={**os.environ, **spec.env}, cwd=spec.cwd,
                stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT if out else None,
                preexec_fn=_die_with_agent)
        finally:
            if out is not None:
                out.close()

    async def wait_ready(self) -> bool:
        """True once ``ready_url`` answers 200 (at once if there is none); False if the child
        exits or does not get ready within ``ready_timeout_ms``."""
        if self.spec.ready_url is None:
            return self.running()
        deadline = time.monotonic() + self.spec.ready_timeout_ms / 1000
        while time.monotonic() < deadline:
            if not self.running():
                return False
            if await http_status(self.spec.ready_url, timeout=0.5) == 200:
                return True
            await asyncio.sleep(POLL * 2)
        return False

    async def stop(self) -> int | None:
        """Drain (POST drain_url) or SIGTERM, wait up to stop_timeout_ms, then SIGKILL.
        Returns the exit code (None if it was not running)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        spec, proc = self.spec, self.proc
        how = "SIGTERM"
        if spec.drain_url is not None:
            status = await http_status(spec.drain_url, method="POST", timeout=1.0)
            how = f"POST {spec.drain_url} -> {status}"
            if status is None or status >= 300:
                proc.send_signal(signal.SIGTERM)
                how += ", then SIGTERM"
        else:
            proc.send_signal(signal.SIGTERM)
        log.info("stopping %s (pid %d): %s", self.name, proc.pid, how)
        try:
            await asyncio.wait_for(proc.wait(), spec.stop_timeout_ms / 1000)
        except TimeoutError:
            log.warning("%s did not exit within %d ms: SIGKILL", self.name, spec.stop_timeout_ms)
            proc.kill()
            await asyncio.wait_for(proc.wait(), KILL_WAIT)
        log.info("%s exited with %s", self.name, proc.returncode)
        return proc.returncode
