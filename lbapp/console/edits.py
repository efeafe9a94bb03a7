"""The changes an operator can make to one LB's config document, as pure functions.

Each takes the stored document (the seed's JSON shape, as written) and the request's body and
returns the new document, or raises ``EditError`` naming the field. ``validate`` then checks the
result against the one schema (``lbapp.config.schema``, strict: no "3" for 3) and names every
bad field. Nothing here does I/O.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from pydantic import ValidationError

from lbapp.config.schema import ALGORITHMS, LBConfig

MAX_WEIGHT = 1000


class EditError(Exception):
    """A request the console refuses: HTTP ``status``, the ``field`` it is about, a message."""

    def __init__(self, status: int, field: str, message: str, reason: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message, self.reason = status, field, message, reason

    def doc(self) -> dict:
        return {"error": self.message, "field": self.field, "reason": self.reason}


def _object(body: Any, field: str) -> dict:
    if not isinstance(body, dict):
        raise EditError(400, field, "must be a JSON object")
    return body


def _backend_name(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return entry["name"]
    return None


def _backends(doc: dict) -> list:
    backends = doc.get("backend_servers")
    return backends if isinstance(backends, list) else []


def backend_names(doc: dict) -> list[str]:
    return [n for n in map(_backend_name, _backends(doc)) if n is not None]


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EditError(422, field, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise EditError(422, field, f"must be between {low} and {high}, got {value}")
    return value


# -- the edits ------------------------------------------------------------------------------------

def replace(doc: dict, body: Any) -> dict:
    return copy.deepcopy(_object(body, "(body)"))


def merge_patch(doc: dict, body: Any) -> dict:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    def merge(target: Any, patch: Any) -> Any:
        if not isinstance(patch, dict):
            return copy.deepcopy(patch)
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = merge(result.get(key), value)
        return result
    return merge(doc, _object(body, "(body)"))


def add_backend(doc: dict, body: Any) -> dict:
    """Body: {"address", "port", "name"?, "weight"?} or "host:port"."""
    if isinstance(body, str):
        entry: Any = body
        name = body
    else:
        entry = dict(_object(body, "(body)"))
        unknown = sorted(set(entry) - {"name", "address", "port", "weight"})
        if unknown:
            raise EditError(400, unknown[0], "unknown field (expected name, address, port, "
                            "weight)")
        for field in ("address", "port"):
            if field not in entry:
                raise EditError(422, field, "is required")
        _integer(entry["port"], "port", 1, 65535)
        if "weight" in entry:
            _integer(entry["weight"], "weight", 0, MAX_WEIGHT)
        if not isinstance(entry["address"], str):
            raise EditError(422, "address", "must be a string")
        entry.setdefault("name", f"{entry['address']}:{entry['port']}")
        name = entry["name"]
    if name in backend_names(doc):
        raise EditError(409, "name", f"backend {name!r} already exists", reason="exists")
    new = copy.deepcopy(doc)
    new["backend_servers"] = [*_backends(new), entry]
    return new


def remove_backend(doc: dict, name: str) -> dict:
    if name not in backend_names(doc):
        raise EditError(404, "backend", f"unknown backend {name!r} (have: "
                        f"{', '.join(backend_names(doc)) or 'none'})", reason="unknown_backend")
    new = copy.deepcopy(doc)
    new["backend_servers"] = [b for b in _backends(new) if _backend_name(b) != name]
    weights = new.get("weights")
    if isinstance(weights, dict):
        weights.pop(name, None)
        if not weights:
            new.pop("weights")
    return new


def set_weights(doc: dict, body: Any) -> dict:
    """Body: {backend name: weight}; other backends keep theirs."""
    weights = _object(body, "weights")
    if not weights:
        raise EditError(422, "weights", "name at least one backend")
    names = backend_names(doc)
    for name, value in weights.items():
        if name not in names:
            raise EditError(404, f"weights.{name}", f"unknown backend {name!r} (have: "
                            f"{', '.join(names)})", reason="unknown_backend")
        _integer(value, f"weights.{name}", 0, MAX_WEIGHT)
    new = copy.deepcopy(doc)
    current = new.get("weights") if isinstance(new.get("weights"), dict) else {}
    new["weights"] = {**current, **weights}
    return new


def set_algorithm(doc: dict, body: Any) -> dict:
    """Body: {"algorithm": name, "hash": {...}?}; ``hash`` replaces the hash options."""
    body = _object(body, "(body)")
    unknown = sorted(set(body) - {"algorithm", "hash"})
    if unknown:
        raise EditError(400, unknown[0], "unknown field (expected algorithm, hash)")
    algorithm = body.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise EditError(422, "algorithm", f"unknown algorithm {algorithm!r} (one of "
                        f"{', '.join(ALGORITHMS)})", reason="unknown_algorithm")
    new = copy.deepcopy(doc)
    new["algorithm"] = algorithm
    if "hash" in body:
        new["hash"] = copy.deepcopy(_object(body["hash"], "hash"))
    return new


Edit = Callable[[dict], dict]


def validate(doc: dict) -> LBConfig:
    """The one schema, strict; EditError(422) naming the first bad field, all of them in the
    message."""
    try:
        return LBConfig.model_validate(doc, strict=True)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "(document)",
                     e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        raise EditError(422, problems[0][0], "; ".join(f"{f}: {m}" for f, m in problems),
                        reason="schema") from None


def diff(before: Any, after: Any, path: str = "") -> list[dict]:
    """What changed, field by field: [{"field", "before", "after"}] (absent = missing)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                changes.append({"field": where, "before": before[key]})
            elif key not in before:
                changes.append({"field": where, "after": after[key]})
            else:
                changes.extend(diff(before[key], after[key], where))
        return changes
    if before != after:
        return [{"field": path or "(document)", "before": before, "after": after}]
    return []
