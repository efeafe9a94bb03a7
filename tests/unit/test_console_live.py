import asyncio

from lbapp.console.lbservers import LBServers, LiveSampler


class Counted(LBServers):
    """LB servers whose counters are scripted: url -> list of successive snapshots."""

    def __init__(self, script):
        super().__init__({"payment": {node: node for node in script}})
        self.script = script

    async def request_counts(self, url):
        return self.script[url].pop(0)


def test_rates_per_lb_server_and_backend_from_counter_deltas(monkeypatch):
    clock = iter([100.0, 102.0])
    monkeypatch.setattr("lbapp.console.lbservers.time.time", lambda: next(clock))
    servers = Counted({
        "lb1": [{"be1": (10, 0), "-": (1, 1)}, {"be1": (30, 2), "be2": (4, 0), "-": (1, 1)}],
        "lb2": [{"be1": (5, 0)}, None],
    })
    sampler = LiveSampler(servers)
    first = asyncio.run(sampler.sample())
    assert first["lbs"]["payment"]["lb1"] == {"up": True, "rps": None, "errors": None}
    second = asyncio.run(sampler.sample())
    # 2 s apart: be1 +20 requests (+2 errors), be2 +4 (a backend new since the last sample)
    assert second["lbs"]["payment"]["lb1"] == {"up": True, "rps": 12.0, "errors": 1.0}
    assert second["backends"]["payment"] == {"be1": {"rps": 10.0, "errors": 1.0},
                                             "be2": {"rps": 2.0, "errors": 0.0}}
    assert second["lbs"]["payment"]["lb2"] == {"up": False, "rps": 0.0, "errors": 0.0}


def test_a_restarted_lb_server_never_gives_negative_rates(monkeypatch):
    clock = iter([0.0, 1.0])
    monkeypatch.setattr("lbapp.console.lbservers.time.time", lambda: next(clock))
    sampler = LiveSampler(Counted({"lb1": [{"be1": (500, 10)}, {"be1": (3, 0)}]}))
    asyncio.run(sampler.sample())
    point = asyncio.run(sampler.sample())
    assert point["lbs"]["payment"]["lb1"]["rps"] == 0.0
