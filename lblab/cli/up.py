"""`lblab up`: build a lab from a topology and wait until it has converged, with a progress bar
per count (namespaces, links, daemons started and ready, convergence checks passing)."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lblab.cli.common import console, require_root
from lblab.lab.progress import COUNTED, Counts, Tally


class ProgressBars:
    """rich progress bars fed by a lab's Counts; step messages print above them."""

    def __init__(self, out: Console):
        self.bars = Progress(TextColumn("{task.description:>16}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=out, transient=False)
        self.tasks = {what: self.bars.add_task(what, total=None, visible=False) for what in COUNTED}
        self.counts = Counts(self.update)

    def update(self, what: str, tally: Tally) -> None:
        self.bars.update(self.tasks[what], completed=tally.done, total=tally.total or None, visible=True)

    def message(self, text: str) -> None:
        self.bars.console.print(text, markup=False, highlight=False)

    def __enter__(self) -> "ProgressBars":
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.stop()


def bring_up(topology: str, name: str | None, timeout: float, out: Console):
    from lblab.lab.instance import Lab

    with ProgressBars(out) as bars:
        return Lab.up(topology, name=name, progress=bars.message, converge_timeout=timeout, counts=bars.counts)


def run(args) -> int:
    require_root()
    lab = bring_up(args.topo, args.lab, args.timeout, console)
    console.print(f"[green]lab {lab.name} is up[/] (converged in {lab.ledger.state.get('converged_s')}s). "
                  f"Try: lblab status --lab {lab.name}; lblab exec client1 -- curl -s http://{lab.topo.service.name}/")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("up", help="build a lab from a topology and wait until it has converged")
    p.add_argument("--topo", default="reference", help="topology name in topo/ or a YAML path (default: reference)")
    p.add_argument("--lab", help="lab name (default: the topology's name)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for convergence")
    p.set_defaults(func=run)
