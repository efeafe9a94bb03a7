"""What every lbapp process's YAML settings file shares: reading it, the error format that names
the file and each bad field, and the validators of common fields (names, host:port, etcd
endpoints, Redis URL, log level)."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, Field

from lbapp.validation import parse_json

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
LOG_LEVELS = ("debug", "info", "warning", "error")

M = TypeVar("M", bound=BaseModel)


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the field."""


def check_identifier(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must be 1-63 characters of letters, digits, '_', '.', '-'")
    return value


def parse_hostport(text: str) -> tuple[str, int]:
    """'0.0.0.0:80' / '[::]:80' / 'localhost:80' -> (host, port); ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError("must be a 'host:port' string")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{text!r} is not 'host:port'")
    if not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: port must be 1-65535")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"{text!r}: unbalanced '[' in IPv6 address")
        host = host[1:-1]
        ipaddress.IPv6Address(host)
    elif ":" in host:
        raise ValueError(f"{text!r}: write IPv6 addresses as [addr]:port")
    return host, int(port)


def check_hostport(value: str) -> str:
    parse_hostport(value)
    return value


def check_etcd_endpoints(value: list[str]) -> list[str]:
    for item in value:
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise ValueError(f"{item!r} must look like http://host:2379")
        if parts.path not in ("", "/"):
            raise ValueError(f"{item!r}: no path expected")
    return value


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must look like http://host:port")
    return value


def check_redis_url(value: str | None) -> str | None:
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"{value!r} must look like redis://host:6379/0")
    return value


def check_log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.lower()


# Field types for settings models: the check runs after pydantic's own type check.
Identifier = Annotated[str, AfterValidator(check_identifier)]
HostPort = Annotated[str, AfterValidator(check_hostport)]
EtcdEndpoints = Annotated[list[str], Field(min_length=1), AfterValidator(check_etcd_endpoints)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
RedisUrl = Annotated[str | None, AfterValidator(check_redis_url)]
LogLevel = Annotated[str, AfterValidator(check_log_level)]


def parse_document(model: type[M], data: Any, source: str, what: str) -> M:
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping of settings at the top level")
    return parse_json(model, data, source, what, SettingsError)


def load_document(model: type[M], path: str | Path, what: str) -> M:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    return parse_document(model, data, str(path), what)
