"""Drawing the report's figures (scenarios.figures) as PNGs with matplotlib's Agg canvas: one
drawer per figure kind, every figure on the same time axis with the fault marks."""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as Canvas
from matplotlib.patches import StepPatch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from lblab.durations import format_duration as fd
from .figures import Figure, FloorMark, Overlay, RouteSegment, registrar

WIDTH, HEIGHT, DPI = 10.0, 3.2, 100
PNG_COMPRESSION = 3     # zlib level: a third of the default's encoding time, files ~10% larger
MARGINS = {"left": 0.07, "right": 0.845, "bottom": 0.16, "top": 0.9}   # legends go right of the axes
OK, FAILED, WINDOW, MARK, HEAL, FLOOR = "#3a9b4b", "#d3413a", "#d3413a", "#7b3fa0", "#777777", "#222222"
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
           "#ccb974", "#64b5cd"]

Drawer = Callable[[Axes, Figure], None]
DRAWERS: dict[str, Drawer] = {}
drawer = registrar(DRAWERS)


def _stairs_values(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def _steps(ax: Axes, edges: Sequence[float], values: Sequence[float], baseline: Sequence[float] | float = 0,
           **style) -> None:
    """ax.stairs without its data-limit update (a Python walk over every vertex: most of a
    figure's time); every drawer sets its limits itself."""
    ax.add_artist(StepPatch(values, edges, baseline=baseline, **style))


def _legend(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.005, 1.02))


@drawer("timeline")
def draw_timeline(ax: Axes, fig: Figure) -> None:
    d = fig.data
    ok, failed = d["ok"], d["failed"]
    total = [a + b for a, b in zip(ok, failed)]
    _steps(ax, d["edges"], ok, fill=True, lw=0, color=OK, alpha=0.85, label="ok")
    _steps(ax, d["edges"], total, baseline=ok, fill=True, lw=0, color=FAILED, label="failed")
    width = d["edges"][1] - d["edges"][0] if len(d["edges"]) > 1 else 0.1
    for k, w in enumerate(d["windows"]):
        # an isolated failure is a window of 0 s: give it a visible width
        ax.axvspan(w.start, max(w.end, w.start + width / 2), color=WINDOW, alpha=0.13, lw=0, zorder=0,
                   label="disruption" if k == 0 else None)
    ax.set_ylim(0, max(total, default=0) * 1.35 + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(d["unit"])
    if d["floor"] is not None:
        _draw_floor(ax, d["floor"])
    _legend(ax)


def _draw_floor(ax: Axes, floor: FloorMark) -> None:
    """A bracket as long as the floor from the start of the longest window, above the bars."""
    y = 0.88
    end = floor.start + floor.floor
    xt = ax.get_xaxis_transform()
    ax.plot([floor.start, end], [y, y], color=FLOOR, lw=1.4, transform=xt)
    for x in (floor.start, end):
        ax.plot([x, x], [y - 0.035, y + 0.035], color=FLOOR, lw=1.4, transform=xt)
    ax.text(end, y, f"  longest {fd(floor.longest)}, floor {fd(floor.floor)}", transform=xt, fontsize=8,
            va="center", ha="left", color=FLOOR,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


@drawer("latency")
def draw_latency(ax: Axes, fig: Figure) -> None:
    edges = fig.data["edges"]
    styles = {"http": PALETTE[0], "dns": PALETTE[1]}
    seen: list[float] = []
    for kind, s in fig.data["series"].items():
        color = styles.get(kind, PALETTE[2])
        for p, ls in (("p50", "-"), ("p99", "--")):
            ms = [v * 1000 for v in s[p] if v is not None and v > 0]
            if ms:
                seen += ms
                _steps(ax, edges, _stairs_values([None if v is None else v * 1000 for v in s[p]]), fill=False,
                       color=color, ls=ls, lw=1.5, label=f"{kind} {p}")
    ax.set_yscale("log")
    if seen:
        ax.set_ylim(min(seen) / 1.5, max(seen) * 1.5)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())   # (the default one typesets with mathtext: slow)
    ax.set_ylabel("latency (ms)")
    _legend(ax)


@drawer("share")
def draw_share(ax: Axes, fig: Figure) -> None:
    d = fig.data
    bottom = [0.0] * (len(d["edges"]) - 1)
    for k, (name, share) in enumerate(d["shares"].items()):
        top = [b + v for b, v in zip(bottom, share)]
        _steps(ax, d["edges"], top, baseline=bottom, fill=True, lw=0, color=PALETTE[k % len(PALETTE)], alpha=0.9,
               label=name)
        bottom = top
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_ylabel(f"share per {d['who']}")
    _legend(ax)


@drawer("routes")
def draw_routes(ax: Axes, fig: Figure) -> None:
    top = 1
    for k, (name, segments) in enumerate(fig.data["tracks"].items()):
        color = PALETTE[k % len(PALETTE)]
        top = max([top] + [s.count for s in segments if s.count is not None])
        _draw_route(ax, name, segments, color)
    ax.set_ylim(-0.3, top + 0.8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("nexthops")
    _legend(ax)


def _draw_route(ax: Axes, name: str, segments: list[RouteSegment], color: str) -> None:
    labelled = errored = False
    previous: RouteSegment | None = None
    for s in segments:
        if s.count is None:
            ax.plot([s.start], [0], "x", color=FAILED, ms=7, label=None if errored else "failed poll")
            errored = True
        else:
            ax.hlines(s.count, s.start, s.end, color=color, lw=2.2, label=None if labelled else name)
            labelled = True
            if previous is not None and previous.count is not None and previous.end == s.start:
                ax.vlines(s.start, previous.count, s.count, color=color, lw=1.2)
            if previous is None or previous.nexthops != s.nexthops:
                ax.annotate(", ".join(s.nexthops) or "no route", (max(s.start, 0), s.count), xytext=(3, 4),
                            textcoords="offset points", fontsize=7, color=color)
        previous = s


@drawer("faults")
def draw_faults(ax: Axes, fig: Figure) -> None:
    rows = fig.data["rows"]
    actions = sorted({bar.action for bars in rows.values() for bar in bars})
    color = {action: PALETTE[i % len(PALETTE)] for i, action in enumerate(actions)}
    for y, bars in enumerate(rows.values()):
        for bar in bars:
            ax.broken_barh([(bar.start, max(bar.end - bar.start, 0.05))], (y - 0.35, 0.7), color=color[bar.action],
                           alpha=0.85, lw=0)
    for action in actions:
        ax.plot([], [], color=color[action], lw=6, label=action)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=7 if len(rows) > 12 else 8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    _legend(ax)


MAX_LABELLED_MARKS = 12     # beyond this (a chaos run) the marks are lines; the faults figure names them


def _draw_marks(ax: Axes, overlay: Overlay) -> None:
    xt = ax.get_xaxis_transform()
    labelled = len(overlay.marks) <= MAX_LABELLED_MARKS
    for m in overlay.marks:
        if not 0 <= m.t <= overlay.duration:   # e.g. the heal, after the traffic: in the tables
            continue
        color = HEAL if m.status == "heal" else MARK
        ax.axvline(m.t, color=color, ls="--" if m.status != "heal" else ":", lw=1.1 if labelled else 0.6,
                   alpha=1.0 if labelled else 0.5)
        if labelled:
            ax.text(m.t, 0.97, m.label, transform=xt, rotation=90, fontsize=7.5, va="top", ha="right", color=color,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})


def render_png(fig: Figure, overlay: Overlay, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes."""
    canvas = Canvas(figsize=(WIDTH, HEIGHT), dpi=dpi)
    FigureCanvasAgg(canvas)
    # fixed margins, not a layout engine: faster, and every figure's time axis lines up
    canvas.subplots_adjust(**MARGINS)
    ax = canvas.add_subplot()
    DRAWERS[fig.kind](ax, fig)
    _draw_marks(ax, overlay)
    ax.set_xlim(0, overlay.duration)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} s"))
    ax.set_xlabel("time since traffic start (send time)")
    ax.set_title(fig.title, loc="left", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    buf = io.BytesIO()
    canvas.savefig(buf, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": PNG_COMPRESSION})
    return buf.getvalue()
