"""Scheduling of the checks, with a stand-in probe (no sockets): fixed rate, a hung target
costs only its own timeout, targets come and go."""
import asyncio
import random

import pytest

from lbapp.orchestrator.checker import Checker, Endpoint
from lbapp.orchestrator.health import CheckResult


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def probe(host, port, path, timeout):
    if host == "hung":
        await asyncio.sleep(timeout)
        return CheckResult(False, "timeout", timeout)
    if host == "broken":
        raise RuntimeError("probe bug")
    await asyncio.sleep(0.001)
    return CheckResult(True, "200", 0.001)


def collect(interval=0.05, timeout=0.04, **kw):
    seen: dict[str, list[float]] = {}
    loop_time = asyncio.get_running_loop().time

    def sink(target, result, lag):
        seen.setdefault(target, []).append(loop_time())
    return Checker(interval, timeout, sink, probe=probe, rng=random.Random(1), **kw), seen


def test_fixed_rate_and_a_hung_target_delays_no_other():
    async def main():
        checker, seen = collect()
        checker.set_targets({f"ok{i}": Endpoint("ok", i, "/") for i in range(20)}
                            | {"hung": Endpoint("hung", 0, "/")})
        await asyncio.sleep(1.0)
        await checker.stop()
        for target in (f"ok{i}" for i in range(20)):
            stamps = seen[target]
            assert 17 <= len(stamps) <= 21, (target, len(stamps))   # every 50 ms for 1 s
            assert max(b - a for a, b in zip(stamps, stamps[1:])) < 0.05 + 0.03
        assert 17 <= len(seen["hung"]) <= 21   # a timeout (40 ms) fits in its interval
    run(main())


def test_targets_come_and_go():
    async def main():
        checker, seen = collect()
        checker.set_targets({"a": Endpoint("ok", 1, "/"), "b": Endpoint("ok", 2, "/")})
        await asyncio.sleep(0.3)
        checker.set_targets({"b": Endpoint("ok", 2, "/"), "c": Endpoint("ok", 3, "/")})
        a_before = len(seen["a"])
        await asyncio.sleep(0.3)
        assert len(seen["a"]) == a_before and len(seen["c"]) >= 4
        assert set(checker.targets) == {"b", "c"}
        await checker.stop()
        assert checker.targets == {}
    run(main())


def test_bugs_in_probe_or_sink_do_not_stop_the_checks():
    async def main():
        calls = []

        def sink(target, result, lag):
            calls.append(result)
            if len(calls) == 1:
                raise ValueError("sink bug")
        checker = Checker(0.05, 0.04, sink, probe=probe)
        checker.set_targets({"x": Endpoint("broken", 0, "/")})
        await asyncio.sleep(0.3)
        await checker.stop()
        assert len(calls) >= 4 and calls[-1].reason == "error RuntimeError"
    run(main())


def test_timeout_must_fit_the_interval():
    with pytest.raises(ValueError):
        Checker(0.1, 0.2, lambda *a: None)
