"""``write_report(result_dir)``: report.html and one PNG per figure, rebuilt from a scenario's
result directory alone (result.json and the histories; see scenarios.resultdir).

The HTML is self-contained (figures embedded as data: URIs, no script, no external link), so it
opens offline and can be mailed; the same PNGs are written next to it for READMEs and issues.
Everything is drawn in memory first and then written file by file (each through a temporary
name), so a failure leaves no half-written report behind.
"""
from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
from pydantic import ValidationError

from . import report
from lblab.durations import format_duration as fd
from .figures import figures_for, overlay_for
from .resultdir import ChaosVerdicts, Result, ResultDirError, load_result_dir

REPORT_FILE = "report.html"
CHAOS_FILE = "chaos.json"       # written by scenarios.chaos next to a chaos run's result
TEMPLATE = "report.html.j2"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"   # HTML pages, not daemon configs

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    undefined=jinja2.StrictUndefined,
    autoescape=True,            # every string in a result is data, never markup
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class RenderedFigure:
    name: str
    file: str
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def render_html(result: Result, raw: dict, figures: list[RenderedFigure], notes: list[str],
                chaos: ChaosVerdicts | None = None) -> str:
    """The report page: the validated result, the document as written (the tables shared with the
    terminal summary read it), the drawn figures, and a chaos run's verdicts (chaos.json)."""
    return _env.get_template(TEMPLATE).render(
        r=result, duration=fd(result.duration), figures=figures, notes=notes, chaos=chaos,
        faults=report.fault_rows(raw), fault_columns=report.FAULT_COLUMNS,
        checks=report.check_rows(raw), check_columns=report.CHECK_COLUMNS,
        traffic=report.traffic_rows(raw), traffic_columns=report.TRAFFIC_COLUMNS,
        windows=report.window_rows(raw), window_columns=report.WINDOW_COLUMNS,
        floor=report.floor_text(raw), splits=report.split_lines(raw), warnings=report.warnings(raw))


def chaos_verdicts(path: Path) -> ChaosVerdicts | None:
    """A chaos run's summary and violations (its chaos.json); None for a scenario run. A file
    that does not hold them is refused, naming the file and field."""
    file = path / CHAOS_FILE
    if not file.is_file():
        return None
    try:
        return ChaosVerdicts.model_validate_json(file.read_bytes())
    except (OSError, ValidationError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors())
        raise ResultDirError(f"{file}: {detail}") from None


def write_report(result_dir: str | Path) -> Path:
    """Write result_dir/report.html and result_dir/<figure>.png; return the HTML's path.
    Raises ResultDirError (naming the file and field) when the directory cannot be read."""
    rd = load_result_dir(result_dir)
    started = time.perf_counter()
    from .plots import render_png   # matplotlib loads only when a report is drawn

    overlay = overlay_for(rd)
    drawn = [RenderedFigure(f.name, f"{f.name}.png", f.title, f.caption, render_png(f, overlay))
             for f in figures_for(rd)]
    notes = [f"{len(drawn)} figure(s) drawn in {time.perf_counter() - started:.2f}s from "
             f"{len(rd.history.sources)} histor{'y' if len(rd.history.sources) == 1 else 'ies'}"]
    chaos = chaos_verdicts(rd.path)
    page = render_html(rd.result, rd.raw, drawn, notes, chaos)
    for fig in drawn:
        _write_atomic(rd.path / fig.file, fig.png)
    out = rd.path / REPORT_FILE
    _write_atomic(out, page.encode("utf-8"))
    return out


__all__ = ["write_report", "render_html", "ResultDirError", "REPORT_FILE"]
