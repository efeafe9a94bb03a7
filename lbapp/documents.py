"""Input documents read the same way everywhere (topology and scenario files, settings, configs):
bounded in size and nesting, YAML mappings that give a key twice refused, and pydantic errors
turned into ``path: message`` lines that name the field as the user wrote it.

A problem is a (path, message) pair; ``DocumentError`` carries them with the document's source
(a file name, ``lb_config``, an API body ...) and prints one ``source: path: message`` line each.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

MAX_DOCUMENT_BYTES = 1 << 20        # 1 MiB: far more than any topology or scenario needs
MAX_NESTING = 32
MAX_ELEMENTS = 200_000              # values after YAML aliases are expanded

Problem = tuple[str, str]


class DocumentError(ValueError):
    """An invalid document; str() has one 'source: path: message' line per problem."""

    def __init__(self, source: str, problems: Iterable[Problem | str]):
        self.source = source
        self.problems: list[Problem] = [p if isinstance(p, tuple) else ("", p) for p in problems]
        super().__init__("\n".join(f"{source}: {path}: {msg}" if path else f"{source}: {msg}"
                                   for path, msg in self.problems))


# ------------------------------------------------------------------------------- reading


def read_text(path: str | Path, source: str | None = None, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """A text file's content, refusing what is not a regular file, too large, binary or not UTF-8."""
    path = Path(path)
    source = source or str(path)
    try:
        if not path.is_file():
            raise DocumentError(source, ["cannot read: " + ("not a regular file" if path.exists() else "no such file")])
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(source, [f"too large ({size} bytes; the limit is {max_bytes})"])
        raw = path.read_bytes()[: max_bytes + 1]
    except OSError as exc:
        raise DocumentError(source, [f"cannot read: {exc.strerror or exc}"]) from None
    return decode_text(raw, source, max_bytes)


def decode_text(raw: bytes, source: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    if len(raw) > max_bytes:
        raise DocumentError(source, [f"too large (over {max_bytes} bytes)"])
    if b"\x00" in raw:
        raise DocumentError(source, ["binary data, not a text document"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(source, [f"not UTF-8 text (byte {exc.start})"]) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping giving one key twice (e.g. two nodes with one name)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key ([a, b]: x); SafeLoader reports it below
            first = None
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first + 1})", key_node.start_mark)
        try:
            seen[key] = key_node.start_mark.line
        except TypeError:
            pass
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """One YAML document, with duplicate keys, deep nesting and alias bombs refused."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise DocumentError(source, [f"too large (over {MAX_DOCUMENT_BYTES} bytes)"])
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DocumentError(source, [(where, f"YAML syntax error: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise DocumentError(source, [f"YAML syntax error: {exc}"]) from None
    except RecursionError:
        raise DocumentError(source, [f"nested too deeply (the limit is {MAX_NESTING} levels)"]) from None
    check_shape(data, source)
    return data


def check_shape(data: Any, source: str) -> None:
    """Refuse documents nested deeper than MAX_NESTING or with more than MAX_ELEMENTS values
    once aliases are expanded (a YAML 'billion laughs' is small text but huge data)."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise DocumentError(source, [f"too many values (over {MAX_ELEMENTS}, aliases expanded)"])
        if isinstance(value, (dict, list)):
            if depth > MAX_NESTING:
                raise DocumentError(source, [f"nested too deeply (the limit is {MAX_NESTING} levels)"])
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                stack.append((item, depth + 1))
                if isinstance(value, dict):
                    stack.append((key, depth + 1))


def load_yaml_file(path: str | Path, source: str | None = None) -> Any:
    source = source or str(path)
    return parse_yaml(read_text(path, source), source)


# ------------------------------------------------------------------------- pydantic errors


def field_path(loc: Iterable[Any]) -> str:
    """('faults', 0, 'daemon') -> 'faults[0].daemon'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def error_message(item: dict) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("missing", "union_tag_not_found"):
        return "required field missing"
    msg = item["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def validation_problems(exc: ValidationError, prefix: tuple = (),
                        relocate: Callable[[tuple, dict], tuple] | None = None) -> list[Problem]:
    """One (path, message) per pydantic error; ``relocate`` may rewrite an error's location
    (e.g. to drop a union tag pydantic inserts) before ``prefix`` is put in front of it."""
    problems = []
    for item in exc.errors():
        loc = tuple(item["loc"])
        if relocate is not None:
            loc = relocate(loc, item)
        problems.append((field_path(prefix + loc), error_message(item)))
    return problems
