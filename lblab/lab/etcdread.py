"""The lab's own reads and writes of its config DB (status, convergence, heal), synchronous:
etcd's JSON gateway over a socket made inside an etcd member's namespace (no subprocess), each
member in turn until one answers. Keys and values are lbapp's (``lbapp.keys``)."""
from __future__ import annotations

import http.client
import json

from lbapp.etcd.codec import (KeyValue, RangeResult, b64, delete_request, put_request,
                              range_request)
from lblab.daemons.etcd import CLIENT_PORT
from lblab.lab import probes
from lblab.lab.errors import LabError

TIMEOUT = 1.0


def call(lab, path: str, body: dict, timeout: float = TIMEOUT) -> dict:
    """POST one gateway request to the first member that answers; LabError naming each."""
    errors = []
    for node in lab.node_names("etcd"):
        ctx = lab.ctx(node)
        try:
            status, _, raw = probes.http_request(ctx.ns, "POST", ctx.control_address, CLIENT_PORT,
                                                 path, timeout, body=json.dumps(body))
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{node}: {exc or type(exc).__name__}")
            continue
        if status == 200:
            return json.loads(raw)
        errors.append(f"{node}: HTTP {status} {raw[:120].decode(errors='replace')}")
    raise LabError(f"etcd {path}: " + ("; ".join(errors) or "the lab has no etcd member"))


def read_prefix(lab, prefix: str) -> list[KeyValue]:
    return RangeResult.decode(call(lab, "/v3/kv/range", range_request(prefix, prefix=True))).kvs


def read_json_prefix(lab, prefix: str) -> dict[str, object]:
    """key after the prefix -> its value as JSON (a value that is not JSON: its text)."""
    found: dict[str, object] = {}
    for kv in read_prefix(lab, prefix):
        text = kv.value.decode("utf-8", "replace")
        try:
            found[kv.key_text[len(prefix):]] = json.loads(text)
        except ValueError:
            found[kv.key_text[len(prefix):]] = text
    return found


def put(lab, key: str, value: str) -> int:
    """Write one key; the revision written."""
    return int(call(lab, "/v3/kv/put", put_request(key, value))["header"]["revision"])


def delete(lab, key: str) -> int:
    """Delete one key; how many were deleted."""
    return int(call(lab, "/v3/kv/deleterange", delete_request(key)).get("deleted") or 0)


def leader_of(lab, election: str) -> KeyValue | None:
    """The election's leader key (its value names the leader), or None while nobody leads."""
    try:
        doc = call(lab, "/v3/election/leader", {"name": b64(election)})
    except LabError as exc:
        if "no leader" in str(exc):
            return None
        raise
    kv = doc.get("kv")
    return KeyValue.decode(kv) if kv else None
