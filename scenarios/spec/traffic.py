"""Traffic a scenario sends: HTTP by name (resolved at the lab's DNS VIP) and DNS lookups,
open loop at fixed rates, per client."""
from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lblab.durations import Duration
from lblab.faults.params import NodeName

MAX_RATE = 5000.0          # requests/s per client and stream


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def unique(values: list[str], what: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} repeated: {', '.join(dupes)}")
    return values


class _TrafficBase(StrictModel):
    clients: list[NodeName] = Field(min_length=1)
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
