"""Scenario files (scenarios/<name>.yaml): the data model, loading and validation.

A scenario says which topology it needs, what traffic the clients send for how long, which
faults the nemesis injects at which times, and which checks judge the recorded history.
Loading either returns a complete, frozen Scenario or raises ScenarioError whose message has one
line per problem, each naming the file and the field path::

    scenarios/backend-crash.yaml: faults[0].action: unknown action 'explode' (expected one of ...)

Nothing is applied while loading; ``check_against_lab`` additionally checks node names, roles
and daemons against a built lab before anything is started.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .durations import Duration, format_duration

NODE_RE = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
NodeName = Annotated[str, Field(pattern=NODE_RE)]
MAX_RATE = 5000.0          # requests/s per client and stream
MAX_DURATION = 3600.0
MAX_REQUESTS_PER_CLIENT = 2_000_000

# Which daemons a node of each role runs (role names as lab.node_names(role=...) knows them).
# Used only to reject a fault on a daemon the node does not run; unknown roles are not checked.
DAEMONS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "lb": ("lbserver", "bird", "announcer"),
    "backend": ("backend",),
    "dns": ("coredns", "keepalived"),
    "router": ("bird",),
    "etcd": ("etcd",),
    "redis": ("redis",),
    "prometheus": ("prometheus",),
    "orchestrator": ("orchestrator",),
    "console": ("console",),
    "client": (),
}
KNOWN_DAEMONS = tuple(sorted({d for ds in DAEMONS_BY_ROLE.values() for d in ds}))


class ScenarioError(ValueError):
    """An invalid scenario; str() has one 'source: path: message' line per problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(values: list[str], what: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} repeated: {', '.join(dupes)}")
    return values


# ---------------------------------------------------------------------------------- traffic

class _TrafficBase(_Strict):
    clients: list[NodeName] = Field(min_length=1)
    rate: float = Field(gt=0, le=MAX_RATE, description="operations/s per client (open loop)")
    timeout: Duration = 1.0
    start: Duration = Field(0.0, description="offset from traffic start when this stream begins")
    end: Duration | None = Field(None, description="offset when this stream stops (default: duration)")

    @field_validator("clients")
    @classmethod
    def _clients_unique(cls, v: list[str]) -> list[str]:
        return _unique(v, "clients")

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, v: float) -> float:
        if v <= 0 or v > 60:
            raise ValueError("timeout must be > 0 and at most 60s")
        return v


class HttpTraffic(_TrafficBase):
    """HTTP GETs by name: resolve the URL's host at the DNS VIP (honouring TTL), then connect."""

    kind: Literal["http"]
    url: str
    keepalive: bool = False
    resolve_timeout: Duration = 1.0
    resolver: str | None = Field(None, description="DNS server IP (default: the lab's DNS VIP)")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs are supported, got {v!r}")
        if not parts.hostname:
            raise ValueError(f"URL has no host: {v!r}")
        try:
            parts.port
        except ValueError:
            raise ValueError(f"URL has a bad port: {v!r}") from None
        return v

    @field_validator("resolver")
    @classmethod
    def _resolver_ip(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.ip_address(v)
        return v


class DnsTraffic(_TrafficBase):
    """DNS queries sent straight at a DNS server (default: the lab's DNS VIP)."""

    kind: Literal["dns"]
    name: str = Field(min_length=1, max_length=253)
    qtype: Literal["A", "AAAA"] = "A"
    server: str | None = Field(None, description="DNS server IP (default: the lab's DNS VIP)")

    @field_validator("server")
    @classmethod
    def _server_ip(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.ip_address(v)
        return v


Traffic = Annotated[Union[HttpTraffic, DnsTraffic], Field(discriminator="kind")]

# ----------------------------------------------------------------------------------- faults


class _FaultBase(_Strict):
    at: Duration
    note: str | None = None

    def params(self) -> dict[str, Any]:
        """Keyword arguments for lab.fault(action, **params)."""
        return self.model_dump(exclude={"at", "note", "action"}, exclude_none=True)


class DaemonFault(_FaultBase):
    """Signal a daemon on a node: kill (SIGKILL), term (SIGTERM), stop (SIGSTOP), cont
    (SIGCONT), restart (start it again, killing it first if it runs)."""

    action: Literal["kill", "term", "stop", "cont", "restart"]
    node: NodeName
    daemon: str

    @field_validator("daemon")
    @classmethod
    def _known_daemon(cls, v: str) -> str:
        if v not in KNOWN_DAEMONS:
            raise ValueError(f"unknown daemon {v!r} (expected one of {', '.join(KNOWN_DAEMONS)})")
        return v


class NodeFault(_FaultBase):
    """node_down: every link of the node down and its processes frozen; node_up undoes it."""

    action: Literal["node_down", "node_up"]
    node: NodeName


class LinkFault(_FaultBase):
    """The link between node and peer (a node or a LAN name) down / up."""

    action: Literal["link_down", "link_up"]
    node: NodeName
    peer: NodeName


class PartitionFault(_FaultBase):
    """Nodes in different groups cannot reach each other (nftables drops)."""

    action: Literal["partition"]
    groups: list[list[NodeName]] = Field(min_length=2)

    @field_validator("groups")
    @classmethod
    def _disjoint(cls, v: list[list[str]]) -> list[list[str]]:
        if any(not g for g in v):
            raise ValueError("every group needs at least one node")
        _unique([n for g in v for n in g], "nodes in more than one group:")
        return v


class HealFault(_FaultBase):
    """Remove partitions (all of them, or the one between these groups) and loss rules."""

    action: Literal["heal"]
    groups: list[list[NodeName]] | None = None


class LossFault(_FaultBase):
    """Drop this percentage of the node's packets (to/from peer only if given); 0 removes it."""

    action: Literal["loss"]
    node: NodeName
    percent: float = Field(ge=0, le=100)
    peer: NodeName | None = None


class DelayFault(_FaultBase):
    """netem delay on the node's links; skipped with a reason when the kernel lacks netem."""

    action: Literal["delay"]
    node: NodeName
    delay: Duration
    jitter: Duration = 0.0
    peer: NodeName | None = None


class DrainFault(_FaultBase):
    """Planned removal of an LB (stop announcing, finish in-flight) and its return."""

    action: Literal["drain", "undrain"]
    node: NodeName


class ConfigFault(_FaultBase):
    """Change the config of a load balancer through the console (etcd + Redis publish)."""

    action: Literal["config"]
    lb_id: str = Field(min_length=1, max_length=64)
    set: dict[str, Any] = Field(min_length=1)


class AnnounceFault(_FaultBase):
    """A node announces (or withdraws) a prefix over BGP: a rogue speaker / wrong prefix."""

    action: Literal["announce", "withdraw"]
    node: NodeName
    prefix: str

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        ipaddress.ip_network(v, strict=True)
        return v


Fault = Annotated[
    Union[DaemonFault, NodeFault, LinkFault, PartitionFault, HealFault, LossFault, DelayFault,
          DrainFault, ConfigFault, AnnounceFault],
    Field(discriminator="action")]

FAULT_ACTIONS: tuple[str, ...] = (
    "kill", "term", "stop", "cont", "restart", "node_down", "node_up", "link_down", "link_up",
    "partition", "heal", "loss", "delay", "drain", "undrain", "config", "announce", "withdraw")

# ----------------------------------------------------------------------------------- checks


def _fraction(v: Any) -> Any:
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(v.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"not a percentage: {v!r}") from None
    return v


# 0.995 or "99.5%"
Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=0, le=1)]


class _CheckKind(_Strict):
    @property
    def name(self) -> str:
        return self.kind  # type: ignore[attr-defined]


class _CheckBase(_CheckKind):
    after: Duration = Field(0.0, description="only operations sent at or after this offset")
    before: Duration | None = Field(None, description="only operations sent before this offset")


class _TrafficCheck(_CheckBase):
    traffic: Literal["http", "dns"] = "http"
    client: NodeName | None = None


class FailedRequests(_TrafficCheck):
    """At most `max` failed operations."""

    kind: Literal["failed_requests"]
    max: int = Field(ge=0)


class SuccessRate(_TrafficCheck):
    """ok / sent at least `min` (0.995 or "99.5%"); with per_client, for every client."""

    kind: Literal["success_rate"]
    min: Fraction
    per_client: bool = False



class LongestDisruption(_TrafficCheck):
    """The longest disruption window (first to last failure of a burst) at most `max`."""

    kind: Literal["longest_disruption"]
    max: Duration


class Disruptions(_TrafficCheck):
    """At most `max` disruption windows."""

    kind: Literal["disruptions"]
    max: int = Field(ge=0)


class DnsFailures(_CheckBase):
    """Failed DNS lookups (DNS-stream queries plus HTTP requests that could not resolve)."""

    kind: Literal["dns_failures"]
    max: int = Field(ge=0)
    client: NodeName | None = None


class AllServed(_CheckBase):
    """Every backend (or LB) answered at least `min` successful requests."""

    kind: Literal["all_backends_served", "all_lbs_served"]
    expected: list[NodeName] | None = Field(None, description="default: the lab's backends / LBs")
    min: int = Field(1, ge=1)


class _ServedBy(_CheckBase):
    lb: NodeName | None = None
    backend: NodeName | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "_ServedBy":
        if (self.lb is None) == (self.backend is None):
            raise ValueError("give exactly one of 'lb' or 'backend'")
        return self


class ServedByExcludes(_ServedBy):
    """No successful response from this LB / backend in the window."""

    kind: Literal["served_by_excludes"]


class ServedByIncludes(_ServedBy):
    """At least `min` successful responses from this LB / backend in the window."""

    kind: Literal["served_by_includes"]
    min: int = Field(1, ge=1)


class Split(_CheckBase):
    """Share of successful responses per backend (or LB) within `tolerance` (absolute share,
    0.05 = 5 points) of its share of the weights."""

    kind: Literal["backend_split", "lb_split"]
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(min_length=1)
    tolerance: Fraction = 0.05
    lb: NodeName | None = Field(None, description="backend_split: only responses through this LB")


    @field_validator("weights")
    @classmethod
    def _some_weight(cls, v: dict[str, float]) -> dict[str, float]:
        if sum(v.values()) <= 0:
            raise ValueError("weights must not all be 0")
        return v


class Latency(_TrafficCheck):
    """The given percentile (50, 99, 100 = max) of successful operations' latency at most `max`."""

    kind: Literal["latency"]
    percentile: float = Field(99.0, gt=0, le=100)
    max: Duration


class RouteNexthops(_CheckBase):
    """The router's route to `prefix` has `count` nexthops: with `within`, at some poll within
    that time after `after`; without, at every poll in [after, before)."""

    kind: Literal["route_nexthops"]
    router: NodeName
    prefix: str
    count: int = Field(ge=0, le=64)
    within: Duration | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        ipaddress.ip_network(v, strict=True)
        return v


class TrafficSent(_CheckKind):
    """The generators sent at least `min_fraction` of the operations they scheduled (a sanity
    check that the generator itself kept up)."""

    kind: Literal["traffic_sent"]
    min_fraction: Fraction = 0.95



class ConfigPropagation(_CheckKind):
    """Every `config` fault reached every running LB server within `max` of its write being
    committed (measured by the lab from each LB's own applied-at time)."""

    kind: Literal["config_propagation"]
    max: Duration


Check = Annotated[
    Union[FailedRequests, SuccessRate, LongestDisruption, Disruptions, DnsFailures, AllServed,
          ServedByExcludes, ServedByIncludes, Split, Latency, RouteNexthops, TrafficSent,
          ConfigPropagation],
    Field(discriminator="kind")]

CHECK_KINDS: tuple[str, ...] = (
    "failed_requests", "success_rate", "longest_disruption", "disruptions", "dns_failures",
    "all_backends_served", "all_lbs_served", "served_by_excludes", "served_by_includes",
    "backend_split", "lb_split", "latency", "route_nexthops", "traffic_sent",
    "config_propagation")

# --------------------------------------------------------------------------------- scenario


class Floor(_Strict):
    """What physics allows for this fault (the failure catalogue's floor), shown in the report."""

    disruption: Duration | None = None
    failed_requests: int | None = Field(None, ge=0)
    note: str | None = None


class AnalysisSettings(_Strict):
    gap: Duration = Field(0.25, description="failures closer than this belong to one disruption")
    bucket: Duration = Field(0.1, description="time-series bucket width")

    @field_validator("gap", "bucket")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    topology: str = Field(min_length=1)
    duration: Duration
    traffic: list[Traffic] = Field(min_length=1)
    faults: list[Fault] = Field(default_factory=list)
    checks: list[Check] = Field(min_length=1)
    floor: Floor | None = None
    analysis: AnalysisSettings = AnalysisSettings()

    def traffic_kinds(self) -> set[str]:
        return {t.kind for t in self.traffic}

    def clients(self) -> list[str]:
        seen: list[str] = []
        for t in self.traffic:
            seen += [c for c in t.clients if c not in seen]
        return seen

    def faults_in_order(self) -> list[tuple[int, Any]]:
        """(index in file, fault) sorted by time, ties in file order."""
        return sorted(enumerate(self.faults), key=lambda item: (item[1].at, item[0]))

    def max_timeout(self) -> float:
        return max(t.timeout + getattr(t, "resolve_timeout", 0.0) for t in self.traffic)


# ----------------------------------------------------------------------- loading & errors


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _file_loc(item: dict, check_index: list[int]) -> tuple:
    """The location as the user wrote it. pydantic puts the union tag into the location
    (faults.0.kill.daemon): drop it for traffic and faults, where the tag is a field value; keep
    it for checks, where the tag is the YAML key the user wrote (and map check positions back)."""
    loc = tuple(item["loc"])
    if len(loc) >= 2 and loc[0] == "checks" and isinstance(loc[1], int) and loc[1] < len(check_index):
        loc = ("checks", check_index[loc[1]]) + loc[2:]
    if len(loc) >= 3 and loc[0] in ("traffic", "faults") and isinstance(loc[1], int):
        loc = loc[:2] + loc[3:]
    if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
        field = str((item.get("ctx") or {}).get("discriminator", "")).strip("'")
        if field and loc[:1] != ("checks",):
            loc = loc + (field,)
    return loc


def _message(item: dict) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unexpected field"
    if kind == "missing":
        return "required field missing"
    if kind == "union_tag_invalid":
        what = "action" if ctx.get("discriminator") == "'action'" else "kind"
        expected = FAULT_ACTIONS if what == "action" else ("http", "dns")
        return f"unknown {what} {ctx.get('tag')!r} (expected one of {', '.join(expected)})"
    if kind == "union_tag_not_found":
        return "required field missing"
    msg = item["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def _checks_to_tagged(raw: Any, problems: list[tuple[str, str]], index: list[int]) -> Any:
    """checks are written as one-key mappings {kind: {params}}; turn them into tagged dicts.
    Malformed items are reported and left out; index maps positions in the result back to
    positions in the file."""
    if not isinstance(raw, list):
        return raw
    out = []
    for i, item in enumerate(raw):
        where = f"checks[{i}]"
        if isinstance(item, str) and item in CHECK_KINDS:
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            problems.append((where, "a check is a mapping with one key, the check kind, "
                                    "e.g. {failed_requests: {max: 0}}"))
            continue
        (kind, params), = item.items()
        if kind not in CHECK_KINDS:
            problems.append((where, f"unknown check {kind!r} (expected one of {', '.join(CHECK_KINDS)})"))
            continue
        if params is None:
            params = {}
        if not isinstance(params, dict):
            problems.append((f"{where}.{kind}", "parameters must be a mapping (use {} for none)"))
            continue
        if "kind" in params:
            problems.append((f"{where}.{kind}.kind", "unexpected field"))
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
    kinds = s.traffic_kinds()
    clients = set(s.clients())
    for i, c in enumerate(s.checks):
        where = f"checks[{i}].{c.kind}"
        after, before = getattr(c, "after", 0.0), getattr(c, "before", None)
        if after > dur:
            problems.append((f"{where}.after", f"is after the end of the traffic ({format_duration(dur)})"))
        if before is not None and not (after < before):
            problems.append((f"{where}.before", "must be after 'after'"))
        traffic = getattr(c, "traffic", None)
        if traffic is not None and traffic not in kinds:
            problems.append((f"{where}.traffic", f"the scenario has no {traffic} traffic"))
        if c.kind in ("all_backends_served", "all_lbs_served", "served_by_excludes",
                      "served_by_includes", "backend_split", "lb_split") and "http" not in kinds:
            problems.append((where, "needs http traffic"))
        client = getattr(c, "client", None)
        if client is not None and client not in clients:
            problems.append((f"{where}.client", f"{client!r} sends no traffic in this scenario"))
        if c.kind == "route_nexthops" and c.within is not None:
            if c.before is not None:
                problems.append((f"{where}.before", "give either 'within' or 'before', not both"))
            elif c.after + c.within > dur:
                problems.append((f"{where}.within", f"after + within ({format_duration(c.after + c.within)}) "
                                                    f"goes past the end of the traffic ({format_duration(dur)})"))
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
        for item in exc.errors():
            problems.append((_path(_file_loc(item, check_index)), _message(item)))
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
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, [("", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise ScenarioError(source, [("", "not UTF-8 text")]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [("", f"{where}YAML syntax error: {problem}")]) from None
    return parse_scenario(data, source=source, expect_name=path.stem)


def find_scenario(name_or_path: str, directory: str | Path | None = None) -> Path:
    """'backend-crash' -> scenarios/backend-crash.yaml; a path is returned as is."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    base = Path(directory) if directory else Path(__file__).resolve().parent
    return base / f"{name_or_path}.yaml"


def list_scenarios(directory: str | Path | None = None) -> list[Path]:
    base = Path(directory) if directory else Path(__file__).resolve().parent
    return sorted(base.glob("*.yaml"))


# ------------------------------------------------------------------ checks against a lab

_NODE_FIELDS = ("node", "peer", "router")


def check_against_lab(scenario: Scenario, nodes_by_role: Mapping[str, Iterable[str]],
                      source: str = "scenario", topology: str | None = None) -> None:
    """Reject references to nodes the lab does not have, daemons a node does not run, drains of
    non-LB nodes, or a different topology — before anything is started or applied."""
    role_of: dict[str, str] = {}
    for role, names in nodes_by_role.items():
        for n in names:
            role_of.setdefault(n, role)
    problems: list[tuple[str, str]] = []
    where_lab = f" in topology {topology!r}" if topology else ""

    def need(path: str, node: str, role: str | None = None) -> None:
        if node not in role_of:
            problems.append((path, f"unknown node {node!r}{where_lab}"))
        elif role and role_of[node] != role and role in nodes_by_role:
            problems.append((path, f"{node!r} is a {role_of[node]} node, not a {role} node"))

    if topology is not None and scenario.topology != topology:
        problems.append(("topology", f"the scenario needs topology {scenario.topology!r}, "
                                     f"the lab runs {topology!r}"))
    for i, t in enumerate(scenario.traffic):
        for j, c in enumerate(t.clients):
            need(f"traffic[{i}].clients[{j}]", c)
    for i, f in enumerate(scenario.faults):
        for field in _NODE_FIELDS:
            value = getattr(f, field, None)
            if value is not None:
                need(f"faults[{i}].{field}", value, "lb" if f.action in ("drain", "undrain") else None)
        for g, group in enumerate(getattr(f, "groups", None) or []):
            for j, n in enumerate(group):
                need(f"faults[{i}].groups[{g}][{j}]", n)
        daemon = getattr(f, "daemon", None)
        if daemon and f.node in role_of:
            allowed = DAEMONS_BY_ROLE.get(role_of[f.node])
            if allowed is not None and daemon not in allowed:
                problems.append((f"faults[{i}].daemon",
                                 f"{f.node!r} ({role_of[f.node]}) runs no {daemon!r} "
                                 f"(it runs: {', '.join(allowed) or 'nothing'})"))
    for i, c in enumerate(scenario.checks):
        where = f"checks[{i}].{c.kind}"
        if c.kind == "route_nexthops":
            need(f"{where}.router", c.router, "router")
        for field, role in (("lb", "lb"), ("backend", "backend")):
            value = getattr(c, field, None)
            if value is not None:
                need(f"{where}.{field}", value, role)
        for j, n in enumerate(getattr(c, "expected", None) or []):
            need(f"{where}.expected[{j}]", n, "backend" if c.kind == "all_backends_served" else "lb")
        if c.kind in ("backend_split", "lb_split"):
            for n in c.weights:
                need(f"{where}.weights.{n}", n, "backend" if c.kind == "backend_split" else "lb")
    if problems:
        raise ScenarioError(source, problems)
