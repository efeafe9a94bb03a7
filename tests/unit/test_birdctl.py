"""Parsing BIRD's control-socket replies (lines as BIRD 2.0.12 sends them)."""
import json
import random
from pathlib import Path

import pytest

from lbapp.birdctl import (ChannelLimit, ProtocolStatus, protocols_all, reply_blocks, route_prefixes,
                           session_summary, summary_row, tcp_md5_drops)

SHOW_ROUTE_FILTERED = [
    "1007-Table master4:",
    " 10.9.0.0/24          unicast [bgp_lb1 12:44:34.007] * (100) [AS65001i]",
    " \tvia 10.0.1.1 on eth-edge",
    " 0.0.0.0/0            unicast [bgp_lb1 12:44:35.102] * (100) [AS65001i]",
    " \tvia 10.0.1.1 on eth-edge",
    "                     unicast [bgp_lb2 12:44:36.000] (100) [AS65002i]",
    "0000 ",
]


def test_route_prefixes_lists_each_route_line_once():
    assert route_prefixes(SHOW_ROUTE_FILTERED) == ["10.9.0.0/24", "0.0.0.0/0"]


def test_route_prefixes_of_an_empty_table():
    assert route_prefixes(["0000 "]) == []


def test_reply_blocks_carry_the_code_onto_continuation_lines():
    blocks = reply_blocks(["2002-Name       Proto", "1002-device1    Device", " vip        Static",
                           "0000 "])
    assert [code for code, _ in blocks] == ["2002", "1002", "1002", "0000"]
    assert blocks[2][1].startswith("vip")


# -- show protocols all: replies captured from BIRD 2.0.12 (router r1 and LB speakers in
# namespaces, configs from the templates) for each case the lab must tell apart.

DATA = Path(__file__).parent / "data" / "bird"


def reply(name: str) -> list[str]:
    return json.loads((DATA / f"{name}.json").read_text())


def status(name: str) -> ProtocolStatus:
    (only,) = protocols_all(reply(name)).values()
    return only


def test_established_session_with_rejected_extras_counts_them_as_filtered():
    s = status("router-established-3-filtered")
    assert (s.name, s.proto, s.state, s.info) == ("bgp_lb1", "BGP", "up", "Established")
    assert s.bgp_state == "Established"
    assert s.established and not s.limit_hit and s.last_error is None
    assert s.neighbor == "10.78.0.1" and s.channel_states == {"ipv4": "UP"}
    assert s.routes == {"imported": 1, "filtered": 3, "exported": 0, "preferred": 1}
    assert s.limits == {"receive": ChannelLimit(10, "disable", False)}
    assert session_summary(s) == "Established, 1 imported, 3 filtered"


def test_max_prefix_with_disable_shuts_the_session_down_until_enabled():
    s = status("router-max-prefix-disable")
    assert (s.state, s.info, s.bgp_state) == ("down", "Automatic shutdown: Route limit exceeded", "Down")
    assert s.last_error == "Automatic shutdown: Route limit exceeded"
    assert s.limits == {"receive": ChannelLimit(10, "disable", True)} and s.limit_hit
    assert s.routes == {} and s.channel_states == {"ipv4": "DOWN"}
    assert session_summary(s) == ("Down: max-prefix, receive limit 10 hit (action disable); "
                                  "`birdc enable bgp_lb1` once the peer announces less")


def test_max_prefix_with_block_keeps_the_session_and_marks_the_limit_hit():
    s = status("router-max-prefix-block")
    assert s.established and s.limit_hit and s.last_error is None
    assert s.limits["receive"] == ChannelLimit(3, "block", True)
    assert s.routes["imported"] == 1 and s.routes["filtered"] == 2
    assert session_summary(s).endswith("; receive limit 3 hit (action block)")


def test_max_prefix_with_restart_waits_in_idle_between_attempts():
    s = status("router-max-prefix-restart-idle")
    assert (s.state, s.bgp_state) == ("start", "Idle")
    assert s.info == "Idle Automatic shutdown: Route limit exceeded"
    assert s.limits["receive"] == ChannelLimit(3, "restart", True)


@pytest.mark.parametrize("name, neighbor", [("router-md5-wrong", "10.78.0.2"),
                                            ("router-md5-missing", "10.78.0.3")])
def test_a_tcp_md5_mismatch_leaves_bird_in_connect_with_no_error(name, neighbor):
    s = status(name)
    assert (s.state, s.info, s.bgp_state, s.last_error) == ("start", "Connect", "Connect", None)
    assert s.neighbor == neighbor and s.routes == {} and not s.limit_hit
    assert session_summary(s) == ("Connect, no session: peer not answering "
                                  "(down, unreachable, or a TCP-MD5 password mismatch)")
    assert session_summary(s, {"TCPMD5Failure": 4, "TCPMD5NotFound": 0}) == (
        "Connect, no session: the kernel dropped 4 segments with a wrong TCP-MD5 signature "
        "(TCP-MD5 password mismatch)")


def test_the_speaker_learns_why_the_router_closed_the_session():
    s = status("speaker-after-max-prefix")
    assert s.last_error == "Received: Maximum number of prefixes reached"
    assert session_summary(s) == "Connect: Received: Maximum number of prefixes reached"
    assert status("speaker-md5-wrong").bgp_state == "Connect"


def test_every_protocol_of_an_unfiltered_reply():
    found = protocols_all(reply("router-show-protocols-all"))
    assert list(found) == ["device1", "bfd1", "kernel1", "bgp_lb1"]
    assert found["device1"].info == "" and found["device1"].bgp_state is None
    assert found["kernel1"].routes == {"imported": 0, "exported": 1, "preferred": 0}
    assert found["bgp_lb1"].routes["filtered"] == 3


def test_an_action_line_belongs_only_to_the_limit_right_above_it():
    lines = ["1002-p1 BGP --- up 10:00:00.000 Established", "1006-  Channel ipv4",
             "     Import limit:   5", "     Routes:         1 imported", "       Action:       block",
             "0000 "]
    assert protocols_all(lines)["p1"].limits == {"import": ChannelLimit(5, None, False)}


@pytest.mark.parametrize("lines", [
    [], ["0000 "], ["9001 There is no protocol"], ["1006-  BGP state: Established"],
    ["1002-short line", "1006-  BGP state: Established"],
    ["1002-p1 BGP --- up", "1006-  Channel", "     Receive limit: lots [HIT]", "     Routes: many imported"],
    ["1002-p1 BGP --- up", " ", "1006-", "   :::", "   Last error:", "\x00\xff\ufffd"],
])
def test_malformed_replies_parse_without_raising(lines):
    found = protocols_all(lines)
    for s in found.values():
        assert s.limits == {} and s.routes == {}
        assert isinstance(session_summary(s), str)


def test_mangled_real_replies_never_raise():
    rng = random.Random(20261201)
    sources = [reply(p.stem) for p in sorted(DATA.glob("*.json"))]
    junk = ["", " ", "1002-", "1006-", ":", "Routes: -1 imported",
            "Receive limit: 99999999999999999999 [HIT]", "Action:", "Channel", "\t\t",
            "1002-x y z w v " + "u" * 500, "é:ü"]
    for _ in range(2000):
        lines = list(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(lines) + 1)
            op = rng.randrange(4)
            if op == 0:
                lines.insert(i, rng.choice(junk))
            elif op == 1 and lines:
                del lines[min(i, len(lines) - 1)]
            elif op == 2 and lines:
                j = min(i, len(lines) - 1)
                lines[j] = lines[j][: rng.randrange(len(lines[j]) + 1)]
            elif lines:
                j = min(i, len(lines) - 1)
                lines[j] = lines[j].replace(":", rng.choice(["", "::", " : "]), 1)
        for s in protocols_all(lines).values():
            assert isinstance(session_summary(s), str)
            assert all(isinstance(v, int) and v >= 0 for v in s.routes.values())


NETSTAT = ("TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted\n"
           "TcpExt: 0 10 0 7 3\n"
           "IpExt: InNoRoutes\nIpExt: 0\n")


def test_tcp_md5_drop_counters_from_proc_net_netstat():
    assert tcp_md5_drops(NETSTAT) == {"TCPMD5Failure": 7, "TCPMD5NotFound": 10, "TCPMD5Unexpected": 0}


def test_tcp_md5_drop_counters_of_this_machine_parse():
    with open("/proc/net/netstat") as handle:
        assert set(tcp_md5_drops(handle.read())) == {"TCPMD5Failure", "TCPMD5NotFound", "TCPMD5Unexpected"}


@pytest.mark.parametrize("text", ["", "TcpExt: TCPMD5Failure\n", "TcpExt: TCPMD5Failure\nIpExt: 3\n",
                                  "TcpExt: TCPMD5Failure TCPMD5NotFound\nTcpExt: x -1\n"])
def test_tcp_md5_drop_counters_of_odd_text(text):
    assert tcp_md5_drops(text) == {}


def test_summary_rows_close_up_the_info_column():
    assert summary_row("bgp_lb1    BGP        ---        start  16:44:35.497  Idle          "
                       "Automatic shutdown: Route limit exceeded") == {
        "name": "bgp_lb1", "proto": "BGP", "table": "---", "state": "start", "since": "16:44:35.497",
        "info": "Idle Automatic shutdown: Route limit exceeded"}
    assert summary_row("device1    Device     ---        up") == {
        "name": "device1", "proto": "Device", "table": "---", "state": "up", "since": "", "info": ""}
    assert summary_row("too short") is None
