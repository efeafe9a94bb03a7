"""report.html from a result directory: what it contains, that it stands alone (no script, no
external reference), hostile result files (clear errors naming file and field, nothing written),
and hostile strings (escaped, never markup)."""
import base64
import json
import re
import shutil

import pytest

from benchmarks.report_timing import write_synthetic_run
from scenarios.cli import main as cli_main
from scenarios.htmlreport import REPORT_FILE, render_html, write_report
from scenarios.figures import figures_for
from scenarios.resultdir import Result, ResultDirError, load_result_dir

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("run"), duration=6, rate=40)


@pytest.fixture(scope="module")
def report(run_dir):
    return write_report(run_dir)


def test_report_and_pngs_written_and_embedded(run_dir, report):
    assert report == run_dir / REPORT_FILE
    html = report.read_text(encoding="utf-8")
    pngs = sorted(run_dir.glob("*.png"))
    assert [p.stem for p in pngs] == sorted(["timeline-http", "timeline-dns", "latency", "share-lb",
                                             "share-backend", "routes"])
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(pngs)
    assert {base64.b64decode(e) for e in embedded} == {p.read_bytes() for p in pngs}
    assert all(p.read_bytes().startswith(PNG) for p in pngs)
    status = json.loads((run_dir / "result.json").read_text())["status"]
    for text in ("synthetic", f'class="status {status}">{status.upper()}<', "node_down", "Disruption windows",
                 "floor</b>: disruption 300ms", "per LB", "healed at +6.50s"):
        assert text in html


def test_report_stands_alone(report):
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(?!data:)', html)        # nothing to fetch: opens offline
    assert "default-src 'none'" in html


def copy_run(run_dir, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(run_dir, dst, ignore=shutil.ignore_patterns("*.png", REPORT_FILE))
    return dst


def edit_result(path, edit):
    doc = json.loads((path / "result.json").read_text())
    edit(doc)
    (path / "result.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("duration"), r"result.json: duration: Field required"),
    (lambda d: d.update(duration=-1), r"result.json: duration: Input should be greater than 0"),
    (lambda d: d.update(duration="30s"), r"result.json: duration: Input should be a valid number"),
    (lambda d: d["faults"][0].update(applied_at="soon"), r"result.json: faults\.0\.applied_at: "),
    (lambda d: d["analysis"]["http"]["disruptions"][0].pop("duration"),
     r"analysis\.http\.disruptions\.0\.duration: Field required"),
    (lambda d: d["route_polls"]["r1 10.0.0.100/32"].update(spans=[[1, 2, 3]]), r"route_polls\..*spans"),
    (lambda d: d["analysis"].update(bucket=0), r"analysis\.bucket: Input should be greater than 0"),
    (lambda d: d.update(start=None, files={}), r"start: missing, and no history"),
])
def test_bad_result_files_name_the_field_and_write_nothing(run_dir, tmp_path, edit, message):
    bad = copy_run(run_dir, tmp_path)
    if "no history" in message:
        for p in bad.glob("history-*.jsonl"):
            p.unlink()
    edit_result(bad, edit)
    with pytest.raises(ResultDirError, match=message):
        write_report(bad)
    assert not (bad / REPORT_FILE).exists() and not list(bad.glob("*.png"))


@pytest.mark.parametrize("content, message", [
    (None, r"result.json: missing"),
    ("{not json", r"result.json: unreadable"),
    ("[1, 2]", r"result.json: expected a JSON object, got list"),
    ('{"duration": NaN, "scenario": "s", "status": "passed"}', r"result.json: "),
    (b"\xff\xfe", r"result.json: unreadable"),
])
def test_unreadable_result_file(tmp_path, content, message):
    if content is not None:
        target = tmp_path / "result.json"
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    with pytest.raises(ResultDirError, match=message):
        load_result_dir(tmp_path)
    with pytest.raises(ResultDirError, match="not a directory"):
        load_result_dir(tmp_path / "nowhere")


def test_torn_and_odd_history_lines_are_skipped_not_fatal(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    with open(run / "history-client1.jsonl", "a") as f:
        f.write('{"type":"http","t_send":"x","outcome":"ok"}\n[1]\n{"type":"http","t_send":1e300,"outcome":"ok"}\n'
                '{"type":"http","t_send":Infinity,"outcome":"ok"}\n{"type":"dns","t_send":NaN,"outcome":"ok"}\n{"ty')
    (run / "history-dir.jsonl").mkdir()
    rd = load_result_dir(run)
    assert rd.history.bad_lines == 3
    assert [f.name for f in figures_for(rd)][:2] == ["timeline-http", "timeline-dns"]   # 1e300: out of range


HOSTILE = '<script>alert(1)</script><img src="http://evil.example/x.png">'


def test_hostile_strings_are_escaped(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)

    def poison(d):
        d.update(scenario=HOSTILE, description=HOSTILE, error=HOSTILE, lab=HOSTILE)
        d["faults"][0]["params"]["node"] = HOSTILE
        d["faults"][0]["status"] = HOSTILE
        d["checks"][0].update(detail=HOSTILE, measured={"expected": 5, HOSTILE: 1})
        d["floor"]["note"] = HOSTILE
        d["analysis"]["http"]["per_lb"] = {HOSTILE: 3}
    edit_result(run, poison)
    rd = load_result_dir(run)
    html = render_html(rd.result, rd.raw, [], [HOSTILE])
    assert "<script" not in html and "evil.example/x.png\">" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_render_html_of_a_bare_result():
    raw = {"scenario": "s", "status": "error", "duration": 3, "error": "generator did not start"}
    html = render_html(Result.model_validate(raw), raw, [], [])
    assert "generator did not start" in html and "no figures" in html and "no operations recorded" in html


def test_cli_report_on_a_directory_writes_the_html(run_dir, tmp_path, capsys):
    run = copy_run(run_dir, tmp_path)
    code = cli_main(["report", str(run)])
    assert (run / REPORT_FILE).exists()
    assert str(run / REPORT_FILE) in capsys.readouterr().out
    assert code == (0 if json.loads((run / "result.json").read_text())["passed"] else 1)
    assert cli_main(["report", str(tmp_path / "empty")]) == 2
