"""The console in the lab, pure parts: the token file, the lab's API client (edits, path segments,
messages), `lblab console` word parsing, the forwarder's and the status reporter's inputs."""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import stat

import pytest
from rich.console import Console

from lbapp import statusreport
from lblab.cli import build_parser
from lblab.cli.console import backend_body, edit_of, name_values
from lblab.daemons.console import ensure_token
from lblab.kinds import kind_of
from lblab.lab import forwarder
from lblab.lab.consoleapi import (ConsoleApi, ConsoleApiError, EDITS, edit_request, replace_keys,
                                  segment, shortened)


# -- token --------------------------------------------------------------------------------------

def test_token_is_made_once_private_and_long(tmp_path):
    path = tmp_path / "console.token"
    token = ensure_token(path)
    assert len(token) >= 16 and token.isascii() and token.strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token(path) == token                  # a restarted console keeps it
    assert path.read_text() == token + "\n"


def test_an_existing_token_file_is_kept_as_it_is(tmp_path):
    path = tmp_path / "console.token"
    path.write_text("an-operator-chosen-token\n")
    os.chmod(path, 0o640)
    assert ensure_token(path) == "an-operator-chosen-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640    # never rewritten, never widened


# -- the lab's API client ---------------------------------------------------------------------

@pytest.mark.parametrize("text, quoted", [
    ("be1", "be1"), ("../../etc", "..%2F..%2Fetc"), ("%2e", "%252e"), ("a b", "a%20b"),
    ("lb1\n", "lb1%0A"), ("x?y#z", "x%3Fy%23z"), ("é", "%C3%A9"),
])
def test_names_are_one_path_segment_whatever_they_hold(text, quoted):
    assert segment(text) == quoted


def test_set_replaces_top_level_keys_and_null_removes_one():
    doc = {"algorithm": "maglev", "hash": {"key": "path"}, "weights": {"be1": 2}}
    assert replace_keys(doc, {"algorithm": "random", "weights": None, "hash": {"key": "client_ip"}}) == {
        "algorithm": "random", "hash": {"key": "client_ip"}}
    assert doc["weights"] == {"be1": 2}                   # the input is left alone


def test_every_edit_is_one_endpoint():
    assert {kind: edit_request(kind, "v")[:2] for kind in EDITS} == {
        "set": ("PUT", "config"), "replace": ("PUT", "config"), "algorithm": ("PUT", "algorithm"),
        "weights": ("PUT", "weights"), "add_backend": ("POST", "backends"),
        "remove_backend": ("DELETE", "backends/v")}
    assert edit_request("algorithm", "maglev")[2] == {"algorithm": "maglev"}
    assert edit_request("algorithm", {"algorithm": "maglev", "hash": {}})[2] == {"algorithm": "maglev", "hash": {}}
    assert edit_request("remove_backend", "../x")[1] == "backends/..%2Fx"
    assert edit_request("set", {"a": None})[2]({"a": 1, "b": 2}) == {"b": 2}
    with pytest.raises(ValueError, match="unknown edit 'explode'"):
        edit_request("explode", 1)


def test_long_messages_are_shortened():
    assert shortened("x" * 10) == "x" * 10
    text = shortened("y" * 5000)
    assert len(text) < 450 and text.endswith("(5000 characters)")


class NoConsoleLab:
    name = "bare"

    @staticmethod
    def node_names(role=None):
        return []


def test_a_lab_without_a_console_says_so():
    with pytest.raises(ConsoleApiError, match="lab bare has no console node"):
        ConsoleApi(NoConsoleLab())


# -- lblab console words ----------------------------------------------------------------------

def test_name_values_read_yaml_and_keep_names_with_colons():
    assert name_values(["be1=3", "10.1.0.11:8080=0", "w=null"], "weight") == {
        "be1": 3, "10.1.0.11:8080": 0, "w": None}
    for words, fragment in ((["be1"], "must be NAME=VALUE"), (["=2"], "must be NAME=VALUE"),
                            (["a=1", "a=2"], "given twice"), (["a=[1"], "YAML syntax error"),
                            (["a=&x [*x, *x]"], "nested too deeply")):
        with pytest.raises(ConsoleApiError, match=fragment):
            name_values(words, "weight")


def test_backend_words_become_the_console_body():
    assert backend_body("10.1.0.17:8080", "be7", "2") == {"address": "10.1.0.17", "port": 8080,
                                                          "name": "be7", "weight": 2}
    assert backend_body("10.1.0.17:80x", None, None) == {"address": "10.1.0.17", "port": "80x"}
    for bad in ("10.1.0.17", ":8080", ""):
        with pytest.raises(ConsoleApiError, match="must be ADDRESS:PORT"):
            backend_body(bad, None, None)


@pytest.mark.parametrize("words, edit", [
    (["set", "algorithm=random", "weights=null"], ("set", {"algorithm": "random", "weights": None})),
    (["weights", "be1=3"], ("weights", {"be1": 3})),
    (["algorithm", "maglev", "--hash", "{key: client_ip}"],
     ("algorithm", {"algorithm": "maglev", "hash": {"key": "client_ip"}})),
    (["backend", "add", "10.1.0.9:80"], ("add_backend", {"address": "10.1.0.9", "port": 80})),
    (["backend", "remove", "be6"], ("remove_backend", "be6")),
])
def test_console_sub_commands_are_edits(words, edit):
    args = build_parser().parse_args(["console", *words, "--lab", "x"])
    assert edit_of(args)[:2] == edit


def test_console_help_lists_every_sub_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["console", "--help"])
    out = capsys.readouterr().out
    for command in ("get", "set", "backend", "weights", "algorithm", "drain", "undrain", "audit"):
        assert command in out


def test_status_shows_the_console_url_and_token():
    out = Console(file=io.StringIO(), width=200)
    kind_of("console").render_status({"console": {"console": {
        "url": "http://127.0.0.1:8081", "lab_url": "http://10.2.0.50:8080",
        "token": "tok-123456789012345", "token_file": "/run/lblab/x/console.token"}}}, out)
    text = out.file.getvalue()
    assert "http://127.0.0.1:8081" in text and "tok-123456789012345" in text and "10.2.0.50" in text


# -- the forwarder's inputs -------------------------------------------------------------------

def test_forwarder_listens_on_loopback_only():
    assert forwarder.loopback("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert forwarder.loopback("127.1.2.3:1") == ("127.1.2.3", 1)
    for bad, fragment in (("0.0.0.0:8080", "loopback only"), ("10.2.0.50:80", "loopback only"),
                          ("127.0.0.1:0", "port must be"), ("127.0.0.1:70000", "port must be"),
                          ("localhost:80", "IPv4:PORT"), ("127.0.0.1", "IPv4:PORT"),
                          ("[::1]:80", "IPv4:PORT")):
        with pytest.raises(argparse.ArgumentTypeError, match=fragment):
            forwarder.loopback(bad)


def test_forwarder_bounds(capsys):
    with pytest.raises(SystemExit):
        forwarder.main(["--listen", "127.0.0.1:8080", "--netns", "x", "--upstream", "10.0.0.1:80",
                        "--port-file", "/tmp/p", "--max-connections", "0"])
    assert "0 is outside 1..1024" in capsys.readouterr().err


def test_forwarder_takes_the_port_it_had_else_the_preferred_else_any(tmp_path):
    port_file = tmp_path / "forwarder.port"
    assert forwarder.previous_port(port_file) is None
    port_file.write_text("garbage")
    assert forwarder.previous_port(port_file) is None
    port_file.write_text("99999\n")
    assert forwarder.previous_port(port_file) is None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        listener = forwarder.bind_listener("127.0.0.1", [taken, 0])
        try:
            assert listener.getsockname()[1] not in (taken, 0)
        finally:
            listener.close()
        with pytest.raises(OSError):
            forwarder.bind_listener("127.0.0.1", [taken])
    forwarder.write_port(port_file, 8123)
    assert forwarder.previous_port(port_file) == 8123


# -- the status reporter's inputs -------------------------------------------------------------

def run(coro):
    return asyncio.run(coro)


def test_announcer_state_is_reported_only_while_the_announcer_runs(tmp_path):
    state = tmp_path / "announcer.state"
    read = statusreport.announce_source(state)
    assert run(read()) == {"announced": None, "reason": "no announcer state yet"}
    state.write_text("{broken")
    assert run(read())["announced"] is None and "unreadable" in run(read())["reason"]
    state.write_text(json.dumps(["not", "a", "mapping"]))
    assert run(read())["announced"] is None
    state.write_text(json.dumps({"announcing": "yes", "pid": os.getpid()}))
    assert run(read())["announced"] is None
    state.write_text(json.dumps({"announcing": True, "since": 5.0, "reason": "200", "pid": os.getpid()}))
    assert run(read()) == {"announced": True, "since": 5.0, "reason": "200"}
    for dead in (2 ** 22 + 12345, -1, 0, True, "1", None):
        state.write_text(json.dumps({"announcing": True, "pid": dead}))
        assert run(read()) == {"announced": None, "reason": "announcer not running"}


def test_vip_holder_is_the_kernel_word():
    addresses = {"10.2.0.2"}

    async def local():
        return set(addresses)
    read = statusreport.vip_source("192.168.1.100", "dns1", local)
    assert run(read()) is None
    addresses.add("192.168.1.100")
    assert run(read()) == {"address": "192.168.1.100", "holder": "dns1"}
    assert "127.0.0.1" in run(statusreport.local_addresses())


@pytest.mark.parametrize("argv, fragment", [
    (["--node", "lb1", "--etcd", "http://x:2379"], "nothing to report"),
    (["--node", "../lb1", "--etcd", "http://x:2379", "--dns-vip", "10.0.0.1"], "--node '../lb1'"),
    (["--node", "lb1", "--etcd", "http://x:2379", "--dns-vip", "10.0.0.300"], "not an IPv4 address"),
    (["--node", "lb1", "--etcd", "http://x:2379", "--dns-vip", "10.0.0.1", "--ttl-s", "1"], "2..600"),
    (["--node", "lb1", "--etcd", "http://x:2379", "--dns-vip", "10.0.0.1", "--interval-ms", "-5"],
     "20..60000"),
])
def test_reporter_arguments_are_checked(argv, fragment, capsys):
    with pytest.raises(SystemExit):
        statusreport.parse_args(argv)
    assert fragment in capsys.readouterr().err
