"""What goes over etcd v3's JSON gateway (grpc-gateway): request bodies and decoded answers.

The gateway wants keys and values base64-encoded, writes every int64 as a JSON string and leaves
out fields holding their default (no ``kvs`` when nothing matched, no ``succeeded`` when a txn
failed, no ``type`` for a PUT event). Everything here is pure: no I/O.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Bytesish = str | bytes

# gRPC status codes the gateway reports in {"code": N, "error"/"message": "..."}.
GRPC_NOT_FOUND = 5
GRPC_FAILED_PRECONDITION = 9
GRPC_OUT_OF_RANGE = 11
GRPC_UNAVAILABLE = 14
GRPC_DEADLINE_EXCEEDED = 4

# Answers that say "this member cannot serve now": another member may.
_MEMBER_TROUBLE = ("no leader", "request timed out", "leader changed", "not capable",
                   "too many requests", "server stopped", "raft: stopped", "timed out waiting")


def to_bytes(value: Bytesish) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def b64(value: Bytesish) -> str:
    return base64.b64encode(to_bytes(value)).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def prefix_range_end(prefix: Bytesish) -> bytes:
    """The range_end that selects every key starting with ``prefix`` (etcd's GetPrefixRangeEnd)."""
    data = bytearray(to_bytes(prefix))
    for i in range(len(data) - 1, -1, -1):
        if data[i] < 0xFF:
            data[i] += 1
            return bytes(data[: i + 1])
    return b"\x00"  # every byte is 0xff: to the end of the keyspace


def _int(doc: dict, name: str) -> int:
    return int(doc.get(name) or 0)


# -- decoded answers ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    lease: int = 0

    @classmethod
    def decode(cls, doc: dict) -> "KeyValue":
        return cls(key=unb64(doc.get("key")), value=unb64(doc.get("value")),
                   create_revision=_int(doc, "create_revision"),
                   mod_revision=_int(doc, "mod_revision"), version=_int(doc, "version"),
                   lease=_int(doc, "lease"))

    @property
    def key_text(self) -> str:
        return self.key.decode("utf-8", "replace")


@dataclass(frozen=True)
class RangeResult:
    revision: int                       # the store's revision when the range was served
    kvs: list[KeyValue]
    count: int = 0
    more: bool = False

    @classmethod
    def decode(cls, doc: dict, revision: int | None = None) -> "RangeResult":
        kvs = [KeyValue.decode(kv) for kv in doc.get("kvs") or []]
        return cls(revision=header_revision(doc) if revision is None else revision, kvs=kvs,
                   count=_int(doc, "count"), more=bool(doc.get("more")))

    def first(self) -> KeyValue | None:
        return self.kvs[0] if self.kvs else None


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: list[Any]                 # RangeResult / PutResult / DeleteResult, in op order
    retried_after_timeout: bool = False  # an earlier attempt may have been applied (see client)

    @classmethod
    def decode(cls, doc: dict, retried_after_timeout: bool = False) -> "TxnResult":
        revision = header_revision(doc)
        responses: list[Any] = []
        for item in doc.get("responses") or []:
            if "response_range" in item:
                responses.append(RangeResult.decode(item["response_range"], revision))
            elif "response_put" in item:
                responses.append(PutResult.decode(item["response_put"], revision))
            elif "response_delete_range" in item:
                responses.append(DeleteResult.decode(item["response_delete_range"], revision))
            else:
                responses.append(item)
        return cls(succeeded=bool(doc.get("succeeded")), revision=revision, responses=responses,
                   retried_after_timeout=retried_after_timeout)


@dataclass(frozen=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None = None

    @classmethod
    def decode(cls, doc: dict, revision: int | None = None) -> "PutResult":
        prev = doc.get("prev_kv")
        return cls(revision=header_revision(doc) if revision is None else revision,
                   prev_kv=KeyValue.decode(prev) if prev else None)


@dataclass(frozen=True)
class DeleteResult:
    revision: int
    deleted: int
    prev_kvs: list[KeyValue] = field(default_factory=list)

    @classmethod
    def decode(cls, doc: dict, revision: int | None = None) -> "DeleteResult":
        return cls(revision=header_revision(doc) if revision is None else revision,
                   deleted=_int(doc, "deleted"),
                   prev_kvs=[KeyValue.decode(kv) for kv in doc.get("prev_kvs") or []])


@dataclass(frozen=True)
class Lease:
    id: int
    ttl: int        # seconds granted (etcd may raise a small TTL to its minimum)


@dataclass(frozen=True)
class LeaseTimeToLive:
    id: int
    ttl: int        # seconds left; -1 when the lease has expired or never existed
    granted_ttl: int
    keys: list[bytes]


@dataclass(frozen=True)
class LeaderKey:
    """The proof of leadership campaign returns; resign and proclaim take it back."""

    name: bytes
    key: bytes
    rev: int
    lease: int

    @classmethod
    def decode(cls, doc: dict) -> "LeaderKey":
        return cls(name=unb64(doc.get("name")), key=unb64(doc.get("key")), rev=_int(doc, "rev"),
                   lease=_int(doc, "lease"))

    def encode(self) -> dict:
        return {"name": b64(self.name), "key": b64(self.key), "rev": str(self.rev),
                "lease": str(self.lease)}


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


def header_revision(doc: dict) -> int:
    return _int(doc.get("header") or {}, "revision")


def decode_watch_events(result: dict) -> list[WatchEvent]:
    events = []
    for event in result.get("events") or []:
        prev = event.get("prev_kv")
        events.append(WatchEvent(type="DELETE" if event.get("type") == "DELETE" else "PUT",
                                 kv=KeyValue.decode(event.get("kv") or {}),
                                 prev_kv=KeyValue.decode(prev) if prev else None))
    return events


# -- transaction building blocks ------------------------------------------------------------------

_COMPARE_RESULT = {"=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_COMPARE_TARGET = {"version": "VERSION", "create_revision": "CREATE", "mod_revision": "MOD",
                   "value": "VALUE", "lease": "LEASE"}


@dataclass(frozen=True)
class Compare:
    """One txn guard: ``Compare("mod_revision", key, "=", 42)``; a missing key has every revision
    0, so ``Compare("create_revision", key, "=", 0)`` means "key does not exist"."""

    target: Literal["version", "create_revision", "mod_revision", "value", "lease"]
    key: Bytesish
    op: Literal["=", "!=", "<", ">"]
    operand: int | Bytesish

    def encode(self) -> dict:
        if self.target not in _COMPARE_TARGET:
            raise ValueError(f"compare target must be one of {', '.join(_COMPARE_TARGET)}")
        if self.op not in _COMPARE_RESULT:
            raise ValueError(f"compare op must be one of {', '.join(_COMPARE_RESULT)}")
        doc: dict[str, Any] = {"key": b64(self.key), "target": _COMPARE_TARGET[self.target],
                               "result": _COMPARE_RESULT[self.op]}
        if self.target == "value":
            doc["value"] = b64(self.operand)  # type: ignore[arg-type]
        else:
            if not isinstance(self.operand, int):
                raise ValueError(f"compare on {self.target} needs an integer operand")
            doc[self.target] = str(self.operand)
        return doc


def range_request(key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None,
                  limit: int = 0, revision: int = 0, serializable: bool = False,
                  keys_only: bool = False, count_only: bool = False,
                  descending: bool = False) -> dict:
    """``descending``: the last keys first (with ``limit``: the newest of time-ordered keys)."""
    doc: dict[str, Any] = {"key": b64(key)}
    if prefix:
        range_end = prefix_range_end(key)
    if range_end is not None:
        doc["range_end"] = b64(range_end)
    for name, value in (("limit", limit), ("revision", revision)):
        if value:
            doc[name] = str(value)
    for name, flag in (("serializable", serializable), ("keys_only", keys_only),
                       ("count_only", count_only)):
        if flag:
            doc[name] = True
    if descending:
        doc["sort_order"], doc["sort_target"] = "DESCEND", "KEY"
    return doc


def put_request(key: Bytesish, value: Bytesish, *, lease: int = 0, prev_kv: bool = False) -> dict:
    doc: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        doc["lease"] = str(lease)
    if prev_kv:
        doc["prev_kv"] = True
    return doc


def delete_request(key: Bytesish, *, prefix: bool = False, prev_kv: bool = False) -> dict:
    doc: dict[str, Any] = {"key": b64(key)}
    if prefix:
        doc["range_end"] = b64(prefix_range_end(key))
    if prev_kv:
        doc["prev_kv"] = True
    return doc


class Op:
    """The operations a txn runs on success or failure."""

    @staticmethod
    def range(key: Bytesish, **options: Any) -> dict:
        return {"request_range": range_request(key, **options)}

    @staticmethod
    def put(key: Bytesish, value: Bytesish, **options: Any) -> dict:
        return {"request_put": put_request(key, value, **options)}

    @staticmethod
    def delete(key: Bytesish, **options: Any) -> dict:
        return {"request_delete_range": delete_request(key, **options)}


def txn_request(compare: list[Compare], success: list[dict], failure: list[dict]) -> dict:
    return {"compare": [c.encode() for c in compare], "success": success, "failure": failure}


def txn_is_read_only(body: dict) -> bool:
    return all(set(op) == {"request_range"} for op in body["success"] + body["failure"])


# -- errors ---------------------------------------------------------------------------------------

class EtcdError(Exception):
    """etcd answered with an error that another member would answer the same way."""

    def __init__(self, message: str, code: int = 0, status: int = 0) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class EtcdUnavailable(EtcdError):
    """No member answered: each endpoint's failure is in the message."""


class EtcdTimeout(EtcdError):
    """A long-blocking call (campaign) did not finish within the time its caller gave it."""


class LeaseNotFound(EtcdError):
    pass


class NoLeader(EtcdError):
    """The election has no leader (observe/leader on an empty election)."""


class Compacted(EtcdError):
    """A watch or read asked for a revision etcd has compacted away."""

    def __init__(self, message: str, compact_revision: int) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


def decode_error(status: int, body: bytes) -> tuple[EtcdError, bool]:
    """An HTTP error answer -> (exception, whether another member may do better)."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    message = str(doc.get("error") or doc.get("message") or body[:200].decode("utf-8", "replace"))
    code = int(doc.get("code") or doc.get("grpc_code") or 0)
    lowered = message.lower()
    if "lease not found" in lowered:
        return LeaseNotFound(message, code, status), False
    if "election: no leader" in lowered:
        return NoLeader(message, code, status), False
    retry_elsewhere = (status in (502, 503, 504) or code in (GRPC_UNAVAILABLE,
                                                             GRPC_DEADLINE_EXCEEDED)
                       or any(text in lowered for text in _MEMBER_TROUBLE))
    return EtcdError(f"HTTP {status}: {message}", code, status), retry_elsewhere


def split_stream(buffer: bytearray, chunk: bytes, limit: int) -> list[dict]:
    """Feed one chunk of a gateway stream (newline-delimited JSON objects); return the complete
    objects, keeping any partial one in ``buffer``. A message longer than ``limit`` is an error."""
    buffer.extend(chunk)
    messages = []
    while (end := buffer.find(b"\n")) >= 0:
        line = bytes(buffer[:end]).strip()
        del buffer[: end + 1]
        if line:
            messages.append(json.loads(line))
    if len(buffer) > limit:
        raise EtcdError(f"stream message longer than {limit} bytes")
    return messages
