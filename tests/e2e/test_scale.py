"""The generated scale topology (topo/scale.yaml: 10 LBs, 100 backends, two routers): `lblab up`
brings it to converged (with its progress counts), client flows spread over both routers and
every LB, `lblab status` describes it, and `lblab down` leaves nothing behind."""
from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from lblab.lab import probes
from lblab.lab.instance import Lab
from lblab.lab.teardown import leftovers

LAB = os.environ.get("LBLAB_E2E_SCALE_LAB", "e2escale")


def lblab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lblab.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def rx_packets(lab: Lab, router: str) -> int:
    done = lab.run(router, ["cat", "/sys/class/net/eth-client/statistics/rx_packets"], timeout=10)
    return int(done.stdout)


def test_scale_lab_comes_up_spreads_over_both_routers_and_every_lb_and_leaves_nothing(labs):
    labs.close()        # one lab at a time: the scale lab takes both cores while it comes up
    assert not leftovers(LAB)
    up = lblab("up", "--topo", "scale", "--lab", LAB, "--timeout", "120")
    print(up.stdout[-5000:], up.stderr[-3000:])
    try:
        assert up.returncode == 0, up.stderr
        converged = float(re.findall(r"converged in ([0-9.]+)s", up.stdout)[-1])
        print(f"scale lab converged in {converged}s")
        lab = Lab.attach(LAB)
        total = len(lab.all_daemons())
        assert re.search(rf"daemons ready .*\b{total}/{total}\b", up.stdout), "the progress counts reach every daemon"
        status = json.loads(lblab("status", "--lab", LAB, "--json").stdout)
        assert len(status["nodes"]) == 123
        assert {r: len(route["nexthops"]) for r, route in status["ecmp"].items()} == {"r1": 10, "r2": 10}
        before = {r: rx_packets(lab, r) for r in ("r1", "r2")}
        served = collections.Counter()
        for _ in range(200):        # a new connection each: a new source port, a new hash
            code, headers, _ = probes.http_get(lab.ns("client1"), "10.0.0.100", 80, "/", timeout=2.0,
                                               headers={"Host": lab.topo.service.name})
            assert code == 200
            served[headers.get("x-lb")] += 1
        assert set(served) == {f"lb{i}" for i in range(1, 11)}, served
        grew = {r: rx_packets(lab, r) - before[r] for r in ("r1", "r2")}
        assert min(grew.values()) > 0.25 * sum(grew.values()), grew      # both routers carry flows
    finally:
        down = lblab("down", "--lab", LAB)
        assert down.returncode == 0, down.stderr
    assert leftovers(LAB) == {}
    assert not Path(f"/run/lblab/{LAB}").exists()
