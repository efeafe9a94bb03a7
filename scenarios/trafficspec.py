"""Traffic: what a scenario asks clients to send (``HttpTraffic``, ``DnsTraffic``: HTTP by name
resolved at the lab's DNS VIP, and DNS lookups, open loop at fixed rates), and what one traffic
generator process does: the JSON given to ``python -m scenarios.traffic --spec``.

The runner builds one GeneratorSpec per client from the scenario (``for_client``); the generator
validates it. This module stays light: the generator imports it in every client namespace.
All times are seconds (floats); ``start`` is a wall-clock epoch (CLOCK_REALTIME, shared by every
namespace) so that all clients begin at the same instant.
"""
from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Annotated, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lbapp.documents import validation_problems
from lblab.durations import Duration
from lblab.topology.model import NodeRef

if TYPE_CHECKING:
    from .spec import Scenario


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_RATE = 5000.0          # requests/s per client and stream


def unique(values: list[str], what: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} repeated: {', '.join(dupes)}")
    return values


class _TrafficBase(StrictModel):
    clients: list[NodeRef] = Field(min_length=1)
    rate: float = Field(gt=0, le=MAX_RATE, description="operations/s per client (open loop)")
    timeout: Duration = 1.0
    start: Duration = Field(0.0, description="offset from traffic start when this stream begins")
    end: Duration | None = Field(None, description="offset when this stream stops (default: duration)")

    @field_validator("clients")
    @classmethod
    def _clients_unique(cls, v: list[str]) -> list[str]:
        return unique(v, "clients")

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


TRAFFIC_KINDS = ("http", "dns")
Traffic = Annotated[Union[HttpTraffic, DnsTraffic], Field(discriminator="kind")]



class _Stream(StrictModel):
    rate: float = Field(gt=0, le=MAX_RATE)
    timeout: float = Field(gt=0, le=60)
    start: float = Field(0.0, ge=0)
    end: float | None = Field(None, gt=0)


class HttpStream(_Stream):
    kind: Literal["http"]
    url: str
    keepalive: bool = False
    resolve_timeout: float = Field(1.0, gt=0, le=60)
    resolver: str | None = None

    @model_validator(mode="after")
    def _resolvable(self) -> "HttpStream":
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"url must be http://host[:port]/path, got {self.url!r}")
        if self.resolver is None and not _is_ip(parts.hostname):
            raise ValueError("a URL with a host name needs a resolver")
        return self


class DnsStream(_Stream):
    kind: Literal["dns"]
    name: str = Field(min_length=1)
    qtype: Literal["A", "AAAA"] = "A"
    server: str
    port: int = Field(53, ge=1, le=65535)


class GeneratorSpec(StrictModel):
    client: str = Field(min_length=1)
    start: float | None = Field(None, description="epoch seconds; default: as soon as ready")
    duration: float = Field(gt=0, le=3600)
    streams: list[Annotated[Union[HttpStream, DnsStream], Field(discriminator="kind")]] = Field(min_length=1)
    max_inflight: int = Field(4000, ge=1, le=100_000)
    max_lag: float = Field(0.25, gt=0, description="slots later than this are not sent (missed)")
    flush_interval: float = Field(0.5, gt=0, le=10)
    resolver_port: int = Field(53, ge=1, le=65535)


class SpecError(ValueError):
    pass


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def parse_generator_spec(text_or_dict: str | dict) -> GeneratorSpec:
    try:
        data = json.loads(text_or_dict) if isinstance(text_or_dict, str) else text_or_dict
        return GeneratorSpec.model_validate(data)
    except json.JSONDecodeError as exc:
        raise SpecError(f"--spec is not valid JSON: {exc}") from None
    except ValidationError as exc:
        lines = ["invalid generator spec:"] + [f"  {path or '(spec)'}: {msg}" for path, msg in validation_problems(exc)]
        raise SpecError("\n".join(lines)) from None


def for_client(scenario: "Scenario", client: str, dns_vip: str, start: float | None) -> GeneratorSpec | None:
    """The generator spec of one client (None when the client sends nothing)."""
    streams: list[dict] = []
    for t in scenario.traffic:
        if client not in t.clients:
            continue
        common = {"rate": t.rate, "timeout": t.timeout, "start": t.start, "end": t.end}
        if isinstance(t, HttpTraffic):
            streams.append({"kind": "http", "url": t.url, "keepalive": t.keepalive,
                            "resolve_timeout": t.resolve_timeout,
                            "resolver": t.resolver or dns_vip, **common})
        elif isinstance(t, DnsTraffic):
            streams.append({"kind": "dns", "name": t.name, "qtype": t.qtype,
                            "server": t.server or dns_vip, **common})
    if not streams:
        return None
    return GeneratorSpec.model_validate(
        {"client": client, "start": start, "duration": scenario.duration, "streams": streams})
