"""Loading a scenario file: either a complete, frozen Scenario or a ScenarioError whose message
has one line per problem, each naming the file and the field path::

    scenarios/backend-crash.yaml: faults[0].action: unknown action 'explode' (expected one of ...)

Nothing is applied while loading."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lbapp.documents import DocumentError, error_message, load_yaml_file, validation_problems
from lblab.durations import format_duration
from lblab.faults import FAULTS
from lblab.paths import SCENARIO_DIR

from ..checks import CHECKS
from .model import Scenario
from ..trafficspec import MAX_RATE, TRAFFIC_KINDS  # noqa: F401 - MAX_RATE is part of this module's API

MAX_DURATION = 3600.0
MAX_REQUESTS_PER_CLIENT = 2_000_000


class ScenarioError(DocumentError):
    """An invalid scenario; str() has one 'source: path: message' line per problem."""


def _relocate(check_index: list[int]):
    """The location as the user wrote it. pydantic puts the union tag into the location
    (faults.0.kill.daemon): drop it for traffic and faults, where the tag is a field value; keep
    it for checks, where the tag is the YAML key the user wrote (and map check positions back)."""

    def relocate(loc: tuple, item: dict) -> tuple:
        if len(loc) >= 2 and loc[0] == "checks" and isinstance(loc[1], int) and loc[1] < len(check_index):
            loc = ("checks", check_index[loc[1]]) + loc[2:]
        if len(loc) >= 3 and loc[0] in ("traffic", "faults") and isinstance(loc[1], int):
            loc = loc[:2] + loc[3:]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field = str((item.get("ctx") or {}).get("discriminator", "")).strip("'")
            if field and loc[:1] != ("checks",):
                loc = loc + (field,)
        return loc

    return relocate


def _message(item: dict) -> str:
    if item["type"] == "union_tag_invalid":
        ctx = item.get("ctx") or {}
        what = "action" if ctx.get("discriminator") == "'action'" else "kind"
        expected = FAULTS if what == "action" else TRAFFIC_KINDS
        return f"unknown {what} {ctx.get('tag')!r} (expected one of {', '.join(expected)})"
    return error_message(item)


def _checks_to_tagged(raw: Any, problems: list[tuple[str, str]], index: list[int]) -> Any:
    """checks are written as one-key mappings {kind: {params}}; turn them into tagged dicts.
    Malformed items are reported and left out; index maps positions in the result back to
    positions in the file."""
    if not isinstance(raw, list):
        return raw
    out = []
    for i, item in enumerate(raw):
        where = f"checks[{i}]"
        if isinstance(item, str) and item in CHECKS:
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            problems.append((where, "a check is a mapping with one key, the check kind, "
                                    "e.g. {failed_requests: {max: 0}}"))
            continue
        (kind, params), = item.items()
        if kind not in CHECKS:
            problems.append((where, f"unknown check {kind!r} (expected one of {', '.join(CHECKS)})"))
            continue
        if params is None:
            params = {}
        if not isinstance(params, dict):
            problems.append((f"{where}.{kind}", "parameters must be a mapping (use {} for none)"))
            continue
        if "kind" in params:
            problems.append((f"{where}.{kind}.kind", "unknown field"))
            continue
        out.append({"kind": kind, **params})
        index.append(i)
    return out


def _cross_checks(s: Scenario) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    dur = s.duration
    if dur <= 0 or dur > MAX_DURATION:
        problems.append(("duration", f"must be > 0 and at most {format_duration(MAX_DURATION)}"))
    for i, t in enumerate(s.traffic):
        end = dur if t.end is None else t.end
        if t.start >= dur:
            problems.append((f"traffic[{i}].start", f"{format_duration(t.start)} is not before the "
                                                    f"end of the traffic (duration {format_duration(dur)})"))
        if t.end is not None and not (t.start < t.end <= dur):
            problems.append((f"traffic[{i}].end", f"must be after start and at most the duration "
                                                  f"({format_duration(dur)})"))
        if t.rate * (end - t.start) > MAX_REQUESTS_PER_CLIENT:
            problems.append((f"traffic[{i}].rate", f"rate x time is over {MAX_REQUESTS_PER_CLIENT} "
                                                   f"operations per client"))
    for i, f in enumerate(s.faults):
        if f.at >= dur:
            problems.append((f"faults[{i}].at", f"{format_duration(f.at)} is not before the end of the "
                                                f"traffic (duration {format_duration(dur)})"))
    for i, c in enumerate(s.checks):
        problems += c.scenario_problems(s, f"checks[{i}].{c.kind}")
    return problems


def parse_scenario(data: Any, source: str = "scenario", expect_name: str | None = None) -> Scenario:
    """Validate a scenario document (already parsed YAML); raise ScenarioError naming fields."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [("", "a scenario must be a YAML mapping")])
    problems: list[tuple[str, str]] = []
    doc = dict(data)
    check_index: list[int] = []
    if "checks" in doc:
        doc["checks"] = _checks_to_tagged(doc["checks"], problems, check_index)
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        relocate = _relocate(check_index)
        for item, (path, _) in zip(exc.errors(), validation_problems(exc, relocate=relocate)):
            problems.append((path, _message(item)))
        raise ScenarioError(source, problems) from None
    if problems:
        raise ScenarioError(source, problems)
    problems = _cross_checks(scenario)
    if expect_name is not None and scenario.name != expect_name:
        problems.append(("name", f"{scenario.name!r} does not match the file name {expect_name!r}"))
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load scenarios/<name>.yaml; raise ScenarioError (never a traceback-worthy exception)."""
    path = Path(path)
    try:
        data = load_yaml_file(path)
    except DocumentError as exc:
        raise ScenarioError(exc.source, exc.problems) from None
    return parse_scenario(data, source=str(path), expect_name=path.stem)


def find_scenario(name_or_path: str, directory: str | Path | None = None) -> Path:
    """'backend-crash' -> scenarios/backend-crash.yaml; a path is returned as is."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return p
    return Path(directory or SCENARIO_DIR) / f"{name_or_path}.yaml"


def list_scenarios(directory: str | Path | None = None) -> list[Path]:
    return sorted(Path(directory or SCENARIO_DIR).glob("*.yaml"))
