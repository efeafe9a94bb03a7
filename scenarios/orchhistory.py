"""The orchestrator members' check histories (``lbapp.orchestrator.history``) for one run: each
member appends to one file for the lab's whole life, so the runner marks where every file ends
before the traffic starts and copies what was appended since into the result directory
(``orchestrator-<member>.jsonl``), which the orchestrator checks then judge."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lbapp.orchestrator.history import Event, read_history

PREFIX = "orchestrator-"


@dataclass(frozen=True)
class Mark:
    member: str
    path: Path
    offset: int


@dataclass
class OrchHistory:
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)    # member -> copy in the result dir


def mark(histories: dict[str, str]) -> list[Mark]:
    """Where each member's history ends now (a file not written yet: at its start)."""
    marks = []
    for member, path in sorted(histories.items()):
        try:
            offset = Path(path).stat().st_size
        except OSError:
            offset = 0
        marks.append(Mark(member, Path(path), offset))
    return marks


def copy_since(mark_: Mark, dest: Path) -> None:
    """What the member appended after the mark; a file that was replaced (a member restarted
    from scratch) or shrank is copied whole. The first line starts at a line boundary."""
    try:
        with open(mark_.path, "rb") as source:
            size = source.seek(0, 2)
            offset = mark_.offset if mark_.offset <= size else 0
            source.seek(max(0, offset - 1))
            if offset and source.read(1) != b"\n":
                source.readline()       # the mark fell inside a line being written
            data = source.read()
    except FileNotFoundError:
        data = b""
    dest.write_bytes(data)


def collect(marks: list[Mark], out_dir: Path) -> OrchHistory:
    """Copy every member's part of the run into out_dir and read them, merged by time."""
    files = {}
    for item in marks:
        dest = out_dir / f"{PREFIX}{item.member}.jsonl"
        copy_since(item, dest)
        files[item.member] = str(dest)
    events, problems = read_history(files.values())
    return OrchHistory(events, problems, files)
