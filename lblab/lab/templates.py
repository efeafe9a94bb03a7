"""Render daemon configs from templates/ (Jinja2, strict: a missing variable is an error).

Nothing reaches a daemon config unchecked: every value a template prints passes ``_finalize``,
which lets through numbers, addresses and plain tokens (names, paths, URLs) and refuses any
string that could end a directive or start a new one in the config languages we render (BIRD,
keepalived, CoreDNS, nginx, HAProxy, YAML, nftables, zone files): whitespace, quotes, backslash,
braces, semicolons, comment characters, control characters. A value that must carry other
characters goes through a quoting filter for its language (``quoted``), which refuses what that
language cannot hold; ``yaml_string`` writes any text as a YAML (JSON-escaped) string.
"""
from __future__ import annotations

import ipaddress
import json
import re

import jinja2

from lblab.paths import TEMPLATE_DIR

SAFE_TOKEN = re.compile(r"[A-Za-z0-9._:/@+=,%*!$&()\[\]^|~<>?-]*")
QUOTABLE = re.compile(r"[ -!#-\[\]-~]*")   # printable ASCII without '"' and '\'


class TemplateValueError(ValueError):
    """A value that cannot be written into a config file as it is."""


class Quoted(str):
    """Text a quoting filter produced: printed as is."""


def _finalize(value):
    if value is None or isinstance(value, (Quoted, bool, int, float, ipaddress.IPv4Address,
                                           ipaddress.IPv4Network, ipaddress.IPv4Interface)):
        return value
    text = str(value)
    if not SAFE_TOKEN.fullmatch(text):
        raise TemplateValueError(f"{text!r} cannot be written into a config file "
                                 "(whitespace, quotes, braces, ';', '#' or control characters)")
    return value


def quoted(value) -> Quoted:
    """A double-quoted string literal (BIRD, keepalived, nginx): no '"', '\\' or control characters."""
    text = str(value)
    if not QUOTABLE.fullmatch(text):
        raise TemplateValueError(f"{text!r} cannot be a quoted string in a config file "
                                 "('\"', '\\' or control characters)")
    return Quoted(f'"{text}"')


def yaml_string(value) -> Quoted:
    """A YAML double-quoted scalar holding any text (JSON's escapes are YAML's: quotes, backslashes
    and control characters are escaped, never written raw)."""
    return Quoted(json.dumps(str(value), ensure_ascii=True))


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
    finalize=_finalize,
)
_env.filters["quoted"] = quoted
_env.filters["yaml_string"] = yaml_string


def render(template: str, **context) -> str:
    return _env.get_template(template).render(**context)
