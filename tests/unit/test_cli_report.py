"""`lblab report DIR` rebuilds a run's report.html from its result directory; `lblab scenario run
--open` prints where the report is. Bad directories get a clear error and exit code 2."""
import json
import shutil

import pytest
from rich.console import Console

from benchmarks.report_timing import write_synthetic_run
from lblab.cli import main
from lblab.cli.scenario import print_report_path
from scenarios.htmlreport import REPORT_FILE


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("run"), duration=4, rate=20)


def test_report_rebuilds_the_html_and_figures(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    for stale in [run / REPORT_FILE, *run.glob("*.png")]:
        stale.unlink(missing_ok=True)
    code = main(["report", str(run)])
    out = capsys.readouterr().out
    assert (run / REPORT_FILE).stat().st_size > 0
    assert list(run.glob("timeline-*.png"))
    assert f"report: {run / REPORT_FILE}" in out.replace("\n", "")
    assert code == (0 if json.loads((run / "result.json").read_text())["passed"] else 1)


@pytest.mark.parametrize("content", [None, "", "{not json", "[]", '{"scenario": 3}'])
def test_report_refuses_a_directory_it_cannot_read(tmp_path, capsys, content):
    if content is not None:
        (tmp_path / "result.json").write_text(content)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "result.json" in err
    assert not (tmp_path / REPORT_FILE).exists()


def test_report_of_a_missing_path(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_open_prints_the_report_url_or_why_there_is_none(tmp_path):
    console = Console(record=True, width=300)
    html = tmp_path / "a b" / REPORT_FILE
    print_report_path({"files": {"report": str(html)}}, console)
    print_report_path({"files": {"report_error": "ValueError: no figures"}}, console)
    print_report_path({}, console)
    text = console.export_text()
    assert f"report: {html.as_uri()}" in text and "%20" in text
    assert "no report: ValueError: no figures" in text
    assert "no report: the run wrote none" in text
