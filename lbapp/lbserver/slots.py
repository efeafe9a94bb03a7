"""Client connection slots and the client-side timers.

Slots: at most ``max_connections`` client connections. A connection arriving when every slot
is taken first makes room by closing idle ones (``make_room``): connections with no request in
progress and no byte of a request head (idle keep-alive connections, and new connections that
have sent nothing yet), oldest idle first, ``EVICT_BATCH`` at a time, so a burst of arrivals
does not scan every connection each time. Only when none is idle is the newcomer refused (503
and close). A connection trickling a head is not idle: the head timer frees its slot.

Timers (the sweeper calls ``expire_heads`` every tick and ``expire_idle`` every second):

- request head (settings ``request_head_timeout_ms``, like HAProxy's ``timeout http-request``
  and nginx's ``client_header_timeout``): the whole head must arrive within the timeout of its
  first byte, or of the connection's start for the first request; else 408 and close. Every
  head gets the same timeout, so deadlines are queued in order (``Runtime.head_timers``,
  stale entries skipped) and the sweeper looks only at the expired front of the queue;
- keep-alive idle (config ``timeouts.client_idle_ms``): no byte of a next request for that long
  after the last response; the connection is closed (no response: none is due).
"""
from __future__ import annotations

import heapq
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbapp.lbserver.runtime import Runtime

EVICT_BATCH = 32  # idle connections closed at once when the slots run out (nginx closes 32)
_IDLE_SINCE = attrgetter("idle_since")


def is_idle(client) -> bool:
    """No request in progress, no head being read or waited for after the first request; or
    lingering after an error response (idle_since 0: evicted first)."""
    if client.closing:
        return client.linger is not None
    return not client.busy and not client.reading_head


def make_room(rt: "Runtime") -> bool:
    """Close up to EVICT_BATCH idle client connections, oldest idle first. False if none was
    idle (the new connection is then refused)."""
    idle = [client for client in rt.clients if is_idle(client)]
    if not idle:
        return False
    for client in heapq.nsmallest(EVICT_BATCH, idle, key=_IDLE_SINCE):
        client.close_idle()
        rt.clients.discard(client)  # its slot is free now, not when the close completes
        rt.client_stats.evicted += 1
    return True


def expire_heads(rt: "Runtime", now: float) -> None:
    timers = rt.head_timers
    while timers and timers[0][0] <= now:
        deadline, client = timers.popleft()
        if client.head_deadline == deadline and not client.closing:
            client.head_timed_out()


def expire_idle(rt: "Runtime", now: float, idle_timeout: float) -> None:
    timeouts = rt.client_stats.timeouts
    for client in list(rt.clients):
        if (not client.busy and not client.head_deadline and not client.closing
                and now - client.idle_since > idle_timeout):
            client.close_idle()
            timeouts["keepalive_idle"] += 1


def connection_states(rt: "Runtime") -> dict[str, int]:
    """Open client connections by state: ``busy`` (a request in progress), ``head`` (a head
    being read, or awaited on a new connection: the head timer runs), ``idle`` (keep-alive,
    between requests), ``closing`` (lingering after an error response)."""
    busy = head = idle = closing = 0
    for client in rt.clients:
        if client.closing:
            closing += 1
        elif client.busy:
            busy += 1
        elif client.head_deadline:
            head += 1
        else:
            idle += 1
    return {"busy": busy, "head": head, "idle": idle, "closing": closing}


def connection_report(rt: "Runtime") -> dict:
    """What /-/status says about client connections and their slots."""
    stats = rt.client_stats
    return {"open": len(rt.clients), "limit": rt.max_connections, **connection_states(rt),
            "accepted": stats.accepted, "rejected": stats.rejected, "evicted": stats.evicted,
            "timeouts": dict(stats.timeouts),
            "rejected_requests": dict(sorted(stats.rejected_requests.items()))}
