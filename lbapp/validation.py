"""How every lbapp input that fails its pydantic schema is reported: a header naming where the
input came from, then one line per bad field."""
from __future__ import annotations

from pydantic import ValidationError


def describe(err: ValidationError, header: str) -> str:
    lines = [header]
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(document)"
        lines.append(f"  {where}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)
