"""Parsing BIRD's control-socket replies (lines as BIRD 2.0.12 sends them)."""
from lbapp.birdctl import reply_blocks, route_prefixes

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
