"""Where benchmarks keep their numbers: results/bench/<name>-<time>.json under the tree."""
from __future__ import annotations

import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def save(name: str, data: object) -> Path:
    """Write ``data`` as JSON; returns the path relative to the tree (for printing)."""
    out = ROOT / "results" / "bench" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    return out.relative_to(ROOT)
