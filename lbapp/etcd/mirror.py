"""A local copy of one etcd key or prefix, kept current by list + watch (etcd's mirror).

``run()`` reads everything under the key, then watches from the next revision; after any
failure (every member down, a compacted watch) it backs off and starts over with a fresh read,
so the copy converges again once etcd answers. Until then it keeps the last copy: readers go on
with the last state they saw. ``changed`` is set after every update; a reader clears it and
reads ``kvs`` (changes in between coalesce into one wake-up).
"""
from __future__ import annotations

import asyncio
import logging
import random

from lbapp.etcd.client import EtcdClient
from lbapp.etcd.codec import EtcdError, KeyValue

log = logging.getLogger("lbapp.etcd.mirror")

BACKOFF = (0.1, 2.0)


class Mirror:
    def __init__(self, etcd: EtcdClient, key: str, *, prefix: bool = True,
                 name: str | None = None) -> None:
        self.etcd, self.key, self.prefix = etcd, key, prefix
        self.name = name or key
        self.kvs: dict[bytes, KeyValue] = {}
        self.revision = 0
        self.synced = asyncio.Event()     # set once the first read succeeded
        self.changed = asyncio.Event()
        self.failures = 0

    def value(self) -> KeyValue | None:
        """The single key's entry (for a mirror of one key)."""
        return self.kvs.get(self.key.encode())

    async def wait_changed(self) -> None:
        await self.changed.wait()
        self.changed.clear()

    async def run(self) -> None:
        delay = BACKOFF[0]
        failing = False
        while True:
            try:
                listed = await self.etcd.range(self.key, prefix=self.prefix)
                self.kvs = {kv.key: kv for kv in listed.kvs}
                self.revision = listed.revision
                self.synced.set()
                self.changed.set()
                if failing:
                    log.info("%s: etcd answers again; %d keys at revision %d", self.name,
                             len(self.kvs), self.revision)
                    failing, delay = False, BACKOFF[0]
                async with self.etcd.watch(self.key, prefix=self.prefix,
                                           start_revision=self.revision + 1) as events:
                    async for event in events:
                        if event.type == "DELETE":
                            self.kvs.pop(event.kv.key, None)
                        else:
                            self.kvs[event.kv.key] = event.kv
                        self.revision = event.kv.mod_revision
                        self.changed.set()
            except asyncio.CancelledError:
                raise
            except (EtcdError, ValueError, OSError) as exc:
                self.failures += 1
                if not failing:
                    log.warning("%s: etcd read/watch failed (%s); keeping the last copy and "
                                "retrying", self.name, exc)
                failing = True
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF[1])
