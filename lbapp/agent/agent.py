"""The agent on one LB node: make what runs there match the node's desired state in etcd.

- desired ``active``: start the children in order, each after the previous one is ready; a
  child that exits is restarted with backoff (``restart_backoff_ms``).
- desired ``standby``, or drained: stop them in reverse order (drain first where a
  ``drain_url`` is set). An operator drains a node with ``/lblab/lb/<lb_id>/drain/<node>``
  (the console writes it, then tells the LB server to drain); while that key exists the agent
  keeps the node stopped whatever the desired state, so it never restarts what was drained.
- the desired state is ``/lblab/desired/<node>`` (written by the orchestrator leader), or
  ``initial_state`` until there is one; an agent that finds no key writes its initial state
  there (only if the key is still absent), so the leader knows the node even while its agent
  is away. A malformed value is logged and skipped; etcd away: the
  node keeps doing what it does (the mirror keeps the last copy) and the agent retries.
- it registers ``/lblab/agents/<node>`` on a lease (phase, desired, drained, child PIDs), so
  the leader sees which nodes can serve, and writes the same to ``state_file`` for the lab on
  every change.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time

from lbapp import keys
from lbapp.agent.children import Child
from lbapp.agent.zygote import Zygote
from lbapp.agent.settings import Settings
from lbapp.etcd import Compare, EtcdClient, EtcdError, Op
from lbapp.etcd.mirror import Mirror
from lbapp.etcd.session import LeaseSession
from lbapp.orchestrator.values import AgentInfo, DesiredState, dump_value, parse_value

log = logging.getLogger("lbapp.agent")

SESSION_RETRY = 1.0


class Agent:
    def __init__(self, settings: Settings, zygote: Zygote | None = None) -> None:
        self.settings = settings
        self.node = settings.node
        self.etcd = EtcdClient(settings.etcd_endpoints, timeout=settings.etcd_timeout_ms / 1000)
        self.children = [Child(spec, zygote) for spec in settings.children]
        self.desired = settings.initial_state
        self.phase = "standby"
        self.desired_mirror = Mirror(self.etcd, keys.desired_key(self.node), prefix=False,
                                     name=f"desired state of {self.node}")
        self.drained = False
        self.drain_mirror = Mirror(self.etcd, keys.drain_key(settings.lb_id, self.node), prefix=False,
                                   name=f"drain of {self.node}")
        self._bad_desired = 0
        self._wake = asyncio.Event()
        self._published = asyncio.Event()
        self.session: LeaseSession | None = None

    # -- state --------------------------------------------------------------------------------
    def info(self) -> AgentInfo:
        return AgentInfo(node=self.node, lb_id=self.settings.lb_id, phase=self.phase,
                         desired=self.desired, drained=self.drained,
                         children={c.name: c.pid for c in self.children if c.pid},
                         at=time.time())

    @property
    def wants_running(self) -> bool:
        return self.desired == "active" and not self.drained

    def set_phase(self, phase: str) -> None:
        if phase != self.phase:
            log.info("phase %s -> %s (desired %s%s)", self.phase, phase, self.desired,
                     ", drained" if self.drained else "")
        self.phase = phase
        self._changed()

    def _changed(self) -> None:
        """Phase, desired state or children changed: the state file now, etcd next."""
        self._write_state_file()
        self._published.set()

    def _write_state_file(self) -> None:
        path = self.settings.state_file
        if not path:
            return
        tmp = f"{path}.tmp"
        try:
            with open(tmp, "w") as handle:
                json.dump({**self.info().model_dump(), "pid": os.getpid()}, handle)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    # -- desired state ------------------------------------------------------------------------
    async def _follow_desired(self) -> None:
        while True:
            await self.desired_mirror.wait_changed()
            kv = self.desired_mirror.value()
            if kv is None:
                continue   # never written: keep the initial (or last) desired state
            try:
                value = parse_value(DesiredState, kv.value, f"etcd:{kv.key_text}@{kv.mod_revision}")
            except ValueError as exc:
                if kv.mod_revision != self._bad_desired:
                    self._bad_desired = kv.mod_revision
                    log.error("%s; keeping desired state %s", exc, self.desired)
                continue
            if value.state != self.desired:
                log.info("desired state %s -> %s (term %d: %s)", self.desired, value.state,
                         value.term, value.reason)
                self.desired = value.state
                self._changed()
                self._wake.set()

    async def _follow_drain(self) -> None:
        """The drain key's presence is the whole signal (whatever its value)."""
        while True:
            await self.drain_mirror.wait_changed()
            drained = self.drain_mirror.value() is not None
            if drained != self.drained:
                log.info("%s by an operator", "drained" if drained else "undrained")
                self.drained = drained
                self._changed()
                self._wake.set()

    # -- reconciling --------------------------------------------------------------------------
    async def _reconcile(self, stopping: asyncio.Event) -> None:
        low, high = (ms / 1000 for ms in self.settings.restart_backoff_ms)
        backoff = low
        while not stopping.is_set():
            if self.wants_running:
                down = [c for c in self.children if not c.running()]
                if down:
                    if self.phase == "active":  # something died while serving
                        for child in down:
                            log.warning("%s exited (%s); restarting in %.1f s", child.name,
                                        child.proc.returncode if child.proc else "?", backoff)
                        await self._sleep_or_wake(backoff, stopping)
                        backoff = min(backoff * 2, high)
                        if not self.wants_running or stopping.is_set():
                            continue
                    await self._activate()
                elif self.phase != "active":
                    self.set_phase("active")
                    backoff = low
                elif any(time.monotonic() - c.started_at > high for c in self.children):
                    backoff = low   # stable for a while: the next crash restarts quickly
            elif self.phase != "standby" or any(c.running() for c in self.children):
                await self._deactivate()
            await self._sleep_or_wake(0.2, stopping)

    async def _activate(self) -> None:
        self.set_phase("activating")
        for child in self.children:
            if not self.wants_running:
                return
            if not child.running():
                try:
                    await child.start()
                except OSError as exc:
                    log.error("cannot start %s: %s", child.name, exc)
                    return
                self._changed()
            if not await child.wait_ready():
                log.warning("%s is not ready (exited or timed out)", child.name)
                return
        self.set_phase("active")

    async def _deactivate(self) -> None:
        self.set_phase("draining")
        for child in reversed(self.children):
            await child.stop()
        self.set_phase("standby")

    async def _sleep_or_wake(self, seconds: float, stopping: asyncio.Event) -> None:
        if stopping.is_set():
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    # -- registration -------------------------------------------------------------------------
    async def _seed_desired(self) -> None:
        """The initial desired state, written only where none is (the leader's word wins)."""
        key = keys.desired_key(self.node)
        value = DesiredState(state=self.settings.initial_state, term=0, lb_id=self.settings.lb_id,
                             reason=f"initial state of the agent on {self.node}", at=time.time())
        result = await self.etcd.txn([Compare("create_revision", key, "=", 0)],
                                     [Op.put(key, dump_value(value))])
        if result.succeeded:
            log.info("no desired state in etcd: wrote the initial one (%s)", value.state)

    async def _register_loop(self) -> None:
        """Keep /lblab/agents/<node> on a lease, current with phase and PIDs."""
        seeded = False
        while True:
            try:
                self.session = await LeaseSession.open(self.etcd, self.settings.lease_ttl_s,
                                                       name=f"agent {self.node}")
            except EtcdError as exc:
                log.warning("cannot get a lease (%s); retrying", exc)
                await asyncio.sleep(SESSION_RETRY)
                continue
            try:
                if not seeded:
                    await self._seed_desired()
                    seeded = True
                while not self.session.lost.is_set():
                    self._published.clear()
                    await self.etcd.put(keys.agent_key(self.node), dump_value(self.info()),
                                        lease=self.session.lease_id)
                    waiters = [asyncio.ensure_future(self._published.wait()),
                               asyncio.ensure_future(self.session.lost.wait())]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
            except EtcdError as exc:
                log.warning("registration failed (%s); retrying", exc)
                await asyncio.sleep(SESSION_RETRY)
            # lost or failed (a cancel leaves the session to run(), which revokes it)
            await self.session.close(revoke=False)

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> int:
        log.info("agent on %s (LB %s): initial state %s, children %s", self.node,
                 self.settings.lb_id, self.desired, ", ".join(c.name for c in self.children))
        self._write_state_file()
        background = [asyncio.create_task(self.desired_mirror.run(), name="desired mirror"),
                      asyncio.create_task(self._follow_desired(), name="follow desired"),
                      asyncio.create_task(self.drain_mirror.run(), name="drain mirror"),
                      asyncio.create_task(self._follow_drain(), name="follow drain"),
                      asyncio.create_task(self._register_loop(), name="registration")]
        reconcile = asyncio.create_task(self._reconcile(stopping), name="reconcile")
        stop_wait = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait([reconcile, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            self._wake.set()
            await reconcile
        finally:
            for task in background + [stop_wait]:
                task.cancel()
            await asyncio.gather(*background, stop_wait, return_exceptions=True)
            if any(c.running() for c in self.children):
                await self._deactivate()
            if self.session is not None and not self.session.lost.is_set():
                await self.session.close(revoke=True)
            await self.etcd.close()
        return 0
