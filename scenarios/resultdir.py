"""A scenario's result directory, read back: result.json (validated: what the report needs, with
errors naming the file and field) and the histories next to it (history-*.jsonl).

The report is rebuilt from these files alone, so they hold everything it draws: the traffic
start and duration, fault times and names, the heal, disruption windows, the floor, the series
bucket and the route polls (changes and polled spans)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .history import History, load_history

RESULT_FILE = "result.json"
HISTORY_GLOB = "history-*.jsonl"


class ResultDirError(ValueError):
    """A result directory the report cannot be built from; the message names file and field."""


class _Doc(BaseModel):
    # strict: the raw document (rendered as is) then holds exactly the validated types
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)


class Window(_Doc):
    start: float
    end: float
    duration: float
    failures: int = Field(ge=0)
    operations: int = Field(default=0, ge=0)
    outcomes: dict[str, int] = {}
    clients: list[str] = []


class Latency(_Doc):
    p50: float | None = None
    p99: float | None = None
    max: float | None = None


class KindSummary(_Doc):
    total: int = Field(default=0, ge=0)
    ok: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    success_rate: float | None = None
    latency: Latency = Latency()
    disruptions: list[Window] = []
    longest_disruption: float = 0.0
    per_lb: dict[str, int] = {}
    per_backend: dict[str, int] = {}


class Analysis(_Doc):
    bucket: float = Field(default=0.1, gt=0)
    gap: float = Field(default=0.25, ge=0)
    http: KindSummary = KindSummary()
    dns: KindSummary = KindSummary()
    bad_lines: int = 0


class Fault(_Doc):
    index: int | None = None
    at: float
    action: str
    params: dict[str, Any] = {}
    status: str = "applied"
    applied_at: float | None = None
    took: float | None = None
    note: str | None = None
    detail: str | None = None
    healed_at: float | None = None      # a fault healed on its own (the chaos nemesis's)
    heal_took: float | None = None
    node: str | None = None


class Heal(_Doc):
    status: str = "ok"
    at: float | None = None
    took: float | None = None
    detail: str | None = None


class Floor(_Doc):
    disruption: float | None = None
    failed_requests: int | None = None
    note: str | None = None


class RouteChange(_Doc):
    t: float
    nexthops: list[str] | None = None
    error: str | None = None


class RouteTrack(_Doc):
    polls: int = Field(default=0, ge=0)
    changes: list[RouteChange] = []
    spans: list[tuple[float, float]] | None = None   # absent in results written before spans


class Check(_Doc):
    name: str
    passed: bool
    measured: Any = None
    limit: Any = None
    detail: str = ""
    scope: str = ""


class Result(_Doc):
    scenario: str
    description: str = ""
    topology: str | None = None
    lab: str | None = None
    start: float | None = None
    start_iso: str | None = None
    duration: float = Field(gt=0, le=7 * 24 * 3600)
    status: str
    error: str | None = None
    floor: Floor | None = None
    faults: list[Fault] = []
    heal: Heal | None = None
    checks: list[Check] = []
    route_polls: dict[str, RouteTrack] = {}
    analysis: Analysis = Analysis()


class HostPressure(_Doc):
    mean: float
    max: float


class ChaosSummary(_Doc):
    seed: int
    faults: int = Field(ge=0)
    faults_by_action: dict[str, int] = {}
    acknowledged: int = Field(ge=0)
    config_writes: int = Field(ge=0)
    violations: int = Field(ge=0)
    host_cpu_pressure: HostPressure | None = None
    repeat: str


class ChaosViolation(_Doc):
    check: str
    message: str
    start: float = Field(alias="from")
    end: float = Field(alias="to")
    history: list[str] = []


class ChaosVerdicts(_Doc):
    """chaos.json, next to a chaos run's result: what the report shows of it."""
    summary: ChaosSummary
    violations: list[ChaosViolation] = []


@dataclass
class ResultDir:
    path: Path
    raw: dict[str, Any]          # result.json as written (the text report renders it)
    result: Result
    history: History
    t0: float                    # traffic start (epoch); times in the result are relative to it


def _problems(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in err.errors())


def load_result_dir(path: str | Path) -> ResultDir:
    """Read and validate a result directory; raise ResultDirError naming the file and field."""
    path = Path(path)
    if not path.is_dir():
        raise ResultDirError(f"{path}: not a directory")
    result_file = path / RESULT_FILE
    try:
        text = result_file.read_text(encoding="utf-8")
        raw = json.loads(text)
    except FileNotFoundError:
        raise ResultDirError(f"{result_file}: missing (not a scenario result directory?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultDirError(f"{result_file}: unreadable: {exc}") from None
    if not isinstance(raw, dict):
        raise ResultDirError(f"{result_file}: expected a JSON object, got {type(raw).__name__}")
    try:
        result = Result.model_validate_json(text)
    except ValidationError as exc:
        raise ResultDirError(f"{result_file}: {_problems(exc)}") from None
    try:
        history = load_history(sorted(p for p in path.glob(HISTORY_GLOB) if p.is_file()))
    except OSError as exc:
        raise ResultDirError(f"{exc.filename}: unreadable: {exc.strerror}") from None
    t0 = result.start if result.start is not None else history.start()
    if t0 is None:
        raise ResultDirError(f"{result_file}: start: missing, and no history in {path} to take it from")
    return ResultDir(path=path, raw=raw, result=result, history=history, t0=t0)
