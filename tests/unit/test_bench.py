"""The proxy benchmark's pure parts: wrk output parsing, config rendering, CPU accounting and
the summary. (The benchmark itself is a measurement, run by hand: `make bench`.)"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from benchmarks import cpu, proxy_bench, summary, targets, wrk
from lblab.daemons.base import NodeContext
from lblab.topology.load import load_topology

BACKENDS = [targets.BackendAddr("be1", "10.1.0.11", 8081), targets.BackendAddr("be2", "10.1.0.12", 8081)]
TOPO = load_topology("minimal")


def ctx(node, tmp_path):
    return NodeContext("bench", TOPO, node, f"bench-{node}", tmp_path / node)


def rendered(daemon) -> str:
    daemon.ctx.run_dir.mkdir(parents=True, exist_ok=True)
    daemon.prepare()
    files = daemon.render()
    assert len(files) == 1
    return next(iter(files.values()))

WRK_TEXT = """\
Running 10s test @ http://10.0.1.1:8001/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.40ms    1.21ms  38.05ms   91.22%
    Req/Sec    27.01k     1.33k   29.12k    80.00%
  Latency Distribution
     50%    2.19ms
     75%    2.52ms
     90%    3.01ms
     99%  812.00us
  268836 requests in 10.00s, 41.79MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  26880.12
Transfer/sec:      4.18MB
"""

WRK_JSON = (
    'WRK_JSON {"requests": 268836, "duration_us": 10001234, "bytes": 43820000, '
    '"errors": {"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 0}, '
    '"latency_us": {"mean": 2400.5, "stdev": 1210.2, "min": 80, "max": 38050, '
    '"p50": 2190, "p90": 3010, "p99": 11370, "p999": 20100}}')


def test_parse_wrk_latency_text():
    r = wrk.parse_wrk(WRK_TEXT)
    assert r.requests == 268836
    assert r.duration_s == pytest.approx(10.0)
    assert r.rps == pytest.approx(26880.12)
    assert r.p50_us == pytest.approx(2190)
    assert r.p90_us == pytest.approx(3010)
    assert r.p99_us == pytest.approx(812)  # units are read per line
    assert r.mean_us == pytest.approx(2400) and r.max_us == pytest.approx(38050)
    assert r.socket_errors == 3 and r.non_2xx == 5


def test_parse_wrk_prefers_the_json_line_of_the_lua_script():
    r = wrk.parse_wrk(WRK_TEXT + WRK_JSON + "\n")
    assert r.requests == 268836
    assert r.rps == pytest.approx(268836 / 10.001234)
    assert (r.p50_us, r.p90_us, r.p99_us, r.p999_us) == (2190, 3010, 11370, 20100)
    assert r.non_2xx == 3 and r.socket_errors == 0


def test_parse_wrk_durations_in_every_unit():
    assert wrk._duration_us("950us") == 950
    assert wrk._duration_us("1.50ms") == 1500
    assert wrk._duration_us("2.00s") == 2_000_000
    assert wrk._duration_us("1.00m") == 60_000_000


def test_parse_wrk_refuses_output_without_numbers():
    with pytest.raises(wrk.WrkError, match="unexpected wrk output"):
        wrk.parse_wrk("unable to connect to 10.0.1.1:8001 Connection refused\n")


def test_wrk_argv_pins_keeps_alive_and_asks_for_latency():
    argv = wrk.wrk_argv("http://10.0.1.1:80/", 1, 64, 10, cpu="0")
    assert argv[:3] == ["taskset", "-c", "0"]
    assert argv[3] == "wrk" and "-t1" in argv and "-c64" in argv and "-d10s" in argv
    assert "--latency" in argv and str(wrk.WRK_SCRIPT) in argv
    assert argv[-1] == "http://10.0.1.1:80/"
    assert not any("Connection" in a for a in argv)  # keep-alive is wrk's default
    assert "-d2s" in wrk.wrk_argv("http://x/", 1, 1, 1.6)  # whole seconds only


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_lua_report_script_loads_in_wrk():
    # wrk exits with a Lua error if the script does not load; the URL is never reached.
    out = subprocess.run(["wrk", "-t1", "-c1", "-d1s", "-s", str(wrk.WRK_SCRIPT),
                          "http://127.0.0.1:1/"], capture_output=True, text=True, timeout=20)
    assert "error" not in out.stderr.lower() or "connect" in out.stderr.lower()


def test_haproxy_config_matches_the_lbapp_setup(tmp_path):
    cfg = rendered(targets.haproxy(ctx("lb1", tmp_path), "10.0.1.1", BACKENDS, "1"))
    assert "nbthread 1" in cfg
    assert "option http-keep-alive" in cfg and "http-reuse always" in cfg
    assert "bind 10.0.1.1:8001" in cfg
    assert "server be1 10.1.0.11:8081" in cfg and "server be2 10.1.0.12:8081" in cfg
    assert "balance roundrobin" in cfg and "option forwardfor" in cfg
    assert f"pidfile {tmp_path}/lb1/haproxy.pid" in cfg
    if shutil.which("haproxy"):
        path = tmp_path / "haproxy.cfg"
        path.write_text(cfg)
        check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def _nginx_check(tmp_path, text: str) -> None:
    if shutil.which("nginx") is None or os.geteuid() != 0:
        return
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    check = subprocess.run(["nginx", "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path),
                            "-c", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_nginx_proxy_config_keeps_alive_upstream(tmp_path):
    text = rendered(targets.nginx_proxy(ctx("lb1", tmp_path), "10.0.1.1", BACKENDS, "1"))
    assert "server 10.1.0.11:8081;" in text and "server 10.1.0.12:8081;" in text
    assert "keepalive 256;" in text
    assert "proxy_http_version 1.1;" in text and 'proxy_set_header Connection "";' in text
    assert "listen 10.0.1.1:8002" in text and "worker_processes 1;" in text
    assert "daemon off;" in text
    _nginx_check(tmp_path, text.replace("10.0.1.1:8002", "127.0.0.1:8002"))


def test_nginx_backend_config_returns_a_fixed_body(tmp_path):
    text = rendered(targets.backend(ctx("be1", tmp_path), "0"))
    assert 'return 200 "ok";' in text and "listen 0.0.0.0:8081" in text
    assert "access_log off;" in text
    _nginx_check(tmp_path, text)


def test_lb_config_is_valid_with_every_feature_on():
    from lbapp.config.schema import parse_config

    config = parse_config(targets.lb_config(BACKENDS))
    assert [b.endpoint for b in config.backend_servers] == ["10.1.0.11:8081", "10.1.0.12:8081"]
    assert config.algorithm == "round_robin"
    assert config.retries.attempts == 2 and config.timeouts.connect_ms == 1000


def test_cpu_accounting_of_this_process():
    pid = os.getpid()
    assert pid in cpu.process_tree(pid)
    before = cpu.cpu_snapshot([pid])
    sum(i * i for i in range(300_000))
    after = cpu.cpu_snapshot([pid])
    user, system = cpu.cpu_seconds_between(before, after)
    assert user >= 0 and system >= 0
    # A process that vanished counts nothing; one that appeared counts from zero.
    assert cpu.cpu_seconds_between({1: (5, 5)}, {}) == (0.0, 0.0)
    assert cpu.cpu_seconds_between({}, {7: (cpu.CLK_TCK, 0)}) == (1.0, 0.0)
    busy = cpu.cpu_busy_between({"cpu0": (10, 100)}, {"cpu0": (60, 200)})
    assert busy == {"cpu0": 50.0}


def test_summary_is_the_median_of_the_rounds_and_ratios_use_haproxy():
    def target(key, rows):
        t = summary.Target(key, key, 80)
        for rps, p99 in rows:
            result = wrk.WrkResult(requests=int(rps * 10), duration_s=10.0, rps=rps,
                                  p50_us=100.0, p99_us=p99)
            t.rounds.append(summary.round_record(result, (1.0, 2.0), {"cpu0": 50.0, "cpu1": 90.0}))
        return t

    lbapp = target("lbapp", [(900, 2000), (800, 1000), (1000, 3000)])
    haproxy = target("haproxy", [(1000, 1000), (1100, 1500), (1200, 2000)])
    summaries = {t.key: t.summary() for t in (lbapp, haproxy)}
    assert summaries["lbapp"]["rps"] == 900 and summaries["lbapp"]["p99_us"] == 2000
    assert summaries["lbapp"]["rps_min"] == 800 and summaries["lbapp"]["rps_max"] == 1000
    assert summaries["lbapp"]["cpu_percent"] == 30.0
    assert summaries["lbapp"]["cpu_busy_percent"] == {"cpu0": 50.0, "cpu1": 90.0}
    ratio = summary.ratios(summaries)
    assert ratio == {"lbapp": {"rps_ratio": round(900 / 1100, 3), "p99_ratio": round(2000 / 1500, 3)}}
    per_round = summary.ratios(summaries, rounds={"lbapp": lbapp.rounds, "haproxy": haproxy.rounds})
    assert per_round["lbapp"]["rps_ratio_per_round"] == [0.9, round(800 / 1100, 3),
                                                         round(1000 / 1200, 3)]
    assert per_round["lbapp"]["p99_ratio_per_round"] == [2.0, round(1000 / 1500, 3), 1.5]


def test_round_record_cpu_per_request():
    result = wrk.WrkResult(requests=100_000, duration_s=10.0, rps=10_000, p50_us=1, p99_us=2)
    record = summary.round_record(result, (0.5, 1.5))
    assert record["cpu_percent"] == 20.0
    assert record["user_us_per_request"] == 5.0 and record["sys_us_per_request"] == 15.0
    assert record["cpu_us_per_request"] == 20.0
    assert summary.round_record(result, None)["cpu_percent"] is None


def test_arguments(tmp_path):
    args = proxy_bench.parse_args(["--duration", "3", "--targets", "lbapp,haproxy"])
    assert args.duration == 3 and args.targets == ["lbapp", "haproxy"]
    with pytest.raises(SystemExit):
        proxy_bench.parse_args(["--targets", "lbapp,squid"])
    with pytest.raises(SystemExit):  # not a tree with lbapp in it
        proxy_bench.parse_args(["--baseline-tree", str(tmp_path)])
    (tmp_path / "lbapp" / "lbserver").mkdir(parents=True)
    args = proxy_bench.parse_args(["--baseline-tree", str(tmp_path), "--targets", "lbapp,haproxy"])
    assert args.targets == ["lbapp", "lbapp-baseline", "haproxy"]


def test_baseline_settings_have_no_workers_key(tmp_path):
    """An lbapp from before the workers setting must accept the file (unknown keys fail)."""
    import yaml

    text = rendered(targets.lbapp_baseline(ctx("lb1", tmp_path), tmp_path, "1"))
    data = yaml.safe_load(text)
    assert "workers" not in data and data["name"] == "lb1-lbserver-baseline"
    assert data["listen"] == ["0.0.0.0:8011"] and data["admin_listen"] == "127.0.0.1:9111"


def test_lbserver_settings_render_and_validate(tmp_path):
    import yaml

    from lbapp.lbserver.settings import parse_settings

    settings = parse_settings(yaml.safe_load(rendered(targets.lbapp_multi(ctx("lb1", tmp_path), 2))))
    assert settings.listen == ["0.0.0.0:8010"] and settings.admin_listen == "127.0.0.1:9110"
    assert settings.workers == 2
    assert settings.log_file is not None


def test_bench_daemons_are_pinned_and_named_apart(tmp_path):
    c = ctx("lb1", tmp_path)
    daemons = [targets.direct(c, "10.0.1.1", "1"), targets.haproxy(c, "10.0.1.1", BACKENDS, "1"),
               targets.nginx_proxy(c, "10.0.1.1", BACKENDS, "1"), targets.lbapp_baseline(c, tmp_path, "1"),
               targets.lbapp_multi(c, 2)]
    assert len({d.name for d in daemons}) == len(daemons)          # one ledger record each
    assert daemons[1].command()[:3] == ["taskset", "-c", "1"]
    assert daemons[-1].command()[0] != "taskset"                     # workers use every CPU
