"""The config of one load balancer, in the seed's JSON shape, shared by every component.

The seed's minimal document is valid as is::

    {"backend_servers": ["10.1.0.11:8080", "10.1.0.12:8080"],
     "health_endpoint": "/health", "poll_frequency": 5000, "algorithm": "round_robin"}

Backends may also be objects (name, address, port, weight). Weights may be given on the
backend or, seed-style, in a top-level ``weights`` map keyed by backend name.
"""
from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lbapp.validation import parse_json

ALGORITHMS = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "power_of_two_choices",
    "random",
    "source_hash",
    "consistent_hash",
    "maglev",
)
HASH_ALGORITHMS = ("source_hash", "consistent_hash", "maglev")

AlgorithmName = Literal[ALGORITHMS]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendServer(_Strict):
    name: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    weight: int = Field(default=1, ge=0, le=1000)

    @field_validator("address")
    @classmethod
    def _address_is_ip_or_hostname(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        labels = value.rstrip(".").split(".")
        if all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
            return value
        raise ValueError(f"{value!r} is neither an IP address nor a hostname")

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


def _parse_backend_string(text: str) -> dict[str, Any]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"backend {text!r} must be 'host:port' or an object with address and port")
    return {"name": text, "address": host, "port": int(port)}


class BoundedLoad(_Strict):
    """HAProxy's hash-balance-factor: no backend takes more than factor x mean load."""

    balance_factor: float = Field(default=1.25, ge=1.0, le=10.0)


class HashOptions(_Strict):
    # client_ip, path, or header:<Name>
    key: str = "client_ip"
    ring_vnodes: int = Field(default=160, ge=1, le=10000)
    # None: sized from the backends' weights (lbapp.algorithms.maglev.table_size_for)
    maglev_table_size: int | None = Field(default=None, ge=7, le=1_048_573)
    # stable: a removed backend moves only its keys; exact: the paper's fill, exact shares
    maglev_fill: Literal["stable", "exact"] = "stable"
    bounded_load: BoundedLoad | None = None

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str) -> str:
        if value in ("client_ip", "path"):
            return value
        if value.startswith("header:") and len(value) > len("header:"):
            return value
        raise ValueError("key must be 'client_ip', 'path' or 'header:<Name>'")

    @field_validator("maglev_table_size")
    @classmethod
    def _prime(cls, value: int | None) -> int | None:
        from lbapp.algorithms.maglev import is_prime  # here: lbapp.algorithms imports this module

        if value is not None and not is_prime(value):
            raise ValueError(f"maglev_table_size must be prime, got {value}")
        return value


class Timeouts(_Strict):
    connect_ms: int = Field(default=1000, ge=1, le=60_000)
    response_ms: int = Field(default=15_000, ge=1, le=600_000)
    client_idle_ms: int = Field(default=60_000, ge=1, le=3_600_000)


class Retries(_Strict):
    # extra attempts on another backend after a failed connect (safe requests only)
    attempts: int = Field(default=2, ge=0, le=10)


class OutlierDetection(_Strict):
    consecutive_failures: int = Field(default=3, ge=1, le=100)
    ejection_ms: int = Field(default=5000, ge=10, le=600_000)


class LBConfig(_Strict):
    backend_servers: list[BackendServer] = Field(min_length=1)
    health_endpoint: str = "/health"
    poll_frequency: int = Field(default=5000, ge=50, le=3_600_000, description="ms")
    algorithm: AlgorithmName = "round_robin"
    weights: dict[str, Annotated[int, Field(ge=0, le=1000)]] | None = None
    hash: HashOptions = HashOptions()
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    outlier_detection: OutlierDetection = OutlierDetection()

    @field_validator("backend_servers", mode="before")
    @classmethod
    def _backend_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_parse_backend_string(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("health_endpoint")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError("health_endpoint must be a path starting with '/' and without spaces")
        return value

    @model_validator(mode="after")
    def _names_unique_and_weights_known(self) -> "LBConfig":
        names = [b.name for b in self.backend_servers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"backend names must be unique, repeated: {', '.join(dupes)}")
        if self.weights:
            unknown = sorted(set(self.weights) - set(names))
            if unknown:
                raise ValueError(f"weights name unknown backends: {', '.join(unknown)}")
        return self

    def effective_weights(self) -> dict[str, int]:
        """Backend name -> weight, the top-level ``weights`` map overriding per-backend weights."""
        weights = {b.name: b.weight for b in self.backend_servers}
        if self.weights:
            weights.update(self.weights)
        return weights


class ConfigError(ValueError):
    """A config document that fails the schema; the message names each bad field."""


def parse_config(data: bytes | str | dict, source: str = "config",
                 strict: bool = False) -> LBConfig:
    """Parse and validate a config document; raise ConfigError naming the bad fields.
    ``strict``: no type coercion ("3" or 3.0 is not an integer), as writers must validate."""
    return parse_json(LBConfig, data, source, "load balancer config", ConfigError, strict=strict)


def dump_config(config: LBConfig) -> str:
    return config.model_dump_json(exclude_defaults=False)
