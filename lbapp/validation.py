"""How every lbapp input is checked against its pydantic schema and reported when it fails: a
header naming where the input came from, then one line per bad field."""
from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def describe(err: ValidationError, header: str) -> str:
    lines = [header]
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(document)"
        lines.append(f"  {where}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def parse_json(model: type[M], data: bytes | str | dict, source: str, what: str,
               error: type[ValueError] = ValueError, strict: bool | None = None) -> M:
    """A JSON document (text or already decoded) -> ``model``; ``error`` naming ``source`` and
    every bad field otherwise (absurdly deep nesting included). ``strict``: no coercion."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise error(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{source}: {what} must be a JSON object")
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise error(describe(exc, f"{source}: invalid {what}")) from None
