"""Hash algorithms at scale: Maglev and the consistent-hash ring with 10 to 1000 backends.

    python -m benchmarks.hash_scale [--n 10,50,100,1000] [--maglev-size M] [--json FILE]
    python -m benchmarks.hash_scale --pick-only      # only the pick time (runs on older trees)

Per algorithm and backend count N (equal weights), everything through ``make_balancer``
(``maglev`` is the default stable fill, ``maglev:exact`` the paper's):

``size``          Maglev table entries / ring points
``build ms``      building the table (median of --rounds, the cache bypassed)
``MiB``           memory the table keeps (tracemalloc, after the build)
``balance``       max / mean and min / mean share of the hash space over the backends
``config −1``     share of the hash space that changes backend when one backend is removed
                  from the config (the table is rebuilt without it), over the ideal 1/N; exact
                  (compared entry by entry / arc by arc), for a few removed backends: min–max
``down −1``       the same when that backend is only down (``healthy`` without it): the table
                  stays and its keys fall through; also checks that no other key moved
``pick µs``       ``balancer.pick(key)``, CPU time per call, best of --rounds over --keys keys

A measurement: it never fails on the numbers.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import tracemalloc
from bisect import bisect_left

from lbapp.algorithms import make_balancer
from lbapp.config.schema import parse_config

ALGORITHMS = ("maglev", "maglev:exact", "consistent_hash")


def config(algorithm: str, names: list[str], maglev_size: int | None = None):
    """algorithm: a config algorithm, or maglev:FILL."""
    algorithm, _, fill = algorithm.partition(":")
    hash_options: dict = {"maglev_table_size": maglev_size} if maglev_size else {}
    if fill:
        hash_options["maglev_fill"] = fill
    return parse_config({"backend_servers": [{"name": n, "address": "10.1.0.1", "port": 8000 + i}
                                             for i, n in enumerate(names)],
                         "algorithm": algorithm, "hash": hash_options})


def backend_names(n: int) -> list[str]:
    return [f"be{i:04d}" for i in range(n)]


def keys(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}:{i}".encode()
            for i in range(count)]


def pick_us(balancer, sample: list[bytes], rounds: int) -> float:
    """CPU µs per pick, the best of the rounds (others' load on a shared machine only adds)."""
    pick = balancer.pick
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for key in sample:
            pick(key)
        times.append((time.process_time() - start) / len(sample) * 1e6)
    return min(times)


# ------------------------------------------------------------ ownership of the hash space

def maglev_owners(balancer) -> list[str]:
    """The backend every table entry sends its keys to (after fall-through); each entry holds
    1/M of the hash space (key hash modulo M)."""
    table, names, usable = balancer._table, balancer._names, balancer._usable
    return [names[b] if usable[b] else next(names[i] for i in table.fallbacks(j) if usable[i])
            for j, b in enumerate(table._table)]


def ring_owner(balancer):
    """h -> backend name for a ring balancer (after fall-through)."""
    table, names, usable = balancer._table, balancer._names, balancer._usable
    points, owners = table._points, table._owners

    def owner(h: int) -> str:
        k = bisect_left(points, h)
        i = owners[k if k < len(points) else 0]
        return names[i] if usable[i] else next(names[j] for j in table.fallbacks(h) if usable[j])
    return owner


def ring_arcs(balancer) -> list[tuple[int, int]]:
    """(upper end, length) of every arc of the ring: keys in (previous point, point] go there."""
    points = balancer._table._points
    return [(p, p - q) for p, q in zip(points, [0] + points[:-1])] + [(2**64, 2**64 - points[-1])]


def shares(balancer) -> dict[str, float]:
    out: dict[str, float] = {}
    if balancer._table.__class__.__name__ == "MaglevTable":
        for name in maglev_owners(balancer):
            out[name] = out.get(name, 0.0) + 1 / balancer._table._m
    else:
        owner = ring_owner(balancer)
        for end, length in ring_arcs(balancer):
            name = owner(end)
            out[name] = out.get(name, 0.0) + length / 2**64
    return out


def moved_fraction(one, two, sample: list[bytes]) -> tuple[float, str]:
    """Share of the hash space whose backend differs: exact for two Maglev tables of one size
    (entry by entry) and for two rings (on the merged points); else over sampled keys."""
    kinds = {one._table.__class__.__name__, two._table.__class__.__name__}
    if kinds == {"MaglevTable"} and one._table._m == two._table._m:
        a, b = maglev_owners(one), maglev_owners(two)
        return sum(x != y for x, y in zip(a, b)) / len(a), "exact"
    if kinds == {"HashRing"}:
        cuts = sorted(set(one._table._points) | set(two._table._points) | {2**64})
        o1, o2 = ring_owner(one), ring_owner(two)
        moved, prev = 0, 0
        for c in cuts:
            if o1(c) != o2(c):
                moved += c - prev
            prev = c
        return moved / 2**64, "exact"
    return sum(one.pick(k) != two.pick(k) for k in sample) / len(sample), "sampled"


def disruption(algorithm: str, n: int, removed: str, args, down: bool) -> tuple[float, str]:
    """Moved share over the ideal 1/N when one backend is removed from the config, or is down."""
    names = backend_names(n)
    full = make_balancer(config(algorithm, names, args.maglev_size))
    if down:
        other = make_balancer(config(algorithm, names, args.maglev_size),
                              healthy=[x for x in names if x != removed])
    else:
        other = make_balancer(config(algorithm, [x for x in names if x != removed], args.maglev_size))
    frac, how = moved_fraction(full, other, keys(args.sample))
    if down and how == "exact":  # only the down backend's keys may move, and all of them must
        own = shares(full)[removed]
        if abs(frac - own) > 1e-9:
            raise AssertionError(f"{algorithm} N={n}: {removed} down moved {frac:.6f}, it held {own:.6f}")
    return frac * n, how


def build(algorithm: str, n: int, maglev_size: int | None, rounds: int) -> dict:
    from lbapp.algorithms.registry import hash_table

    names = backend_names(n)
    cfg = config(algorithm, names, maglev_size)
    balancer = make_balancer(cfg)
    table = balancer._table
    size = len(table._points) if hasattr(table, "_points") else table._m
    parameter = cfg.hash.ring_vnodes if algorithm == "consistent_hash" else size
    args = (cfg.algorithm, tuple(sorted(names)), (1,) * n, parameter, cfg.hash.maglev_fill)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        hash_table.__wrapped__(*args)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    kept = hash_table.__wrapped__(*args)
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    share = shares(balancer)
    mean = 1 / n
    return {"size": size, "build_ms": round(statistics.median(times) * 1000, 1),
            "mib": round(current / 2**20, 2),
            "balance_max": round(max(share.values()) / mean, 3),
            "balance_min": round(min(share.values()) / mean, 3)}


def measure(algorithm: str, n: int, args) -> dict:
    row = {"algorithm": algorithm, "n": n, **build(algorithm, n, args.maglev_size, args.rounds)}
    names = backend_names(n)
    removed = [names[i] for i in sorted({2 % n, n // 3, n // 2, n - 1})]
    for label, down in (("config", False), ("down", True)):
        ratios = [disruption(algorithm, n, r, args, down) for r in removed]
        row[f"{label}_min"] = round(min(r for r, _ in ratios), 3)
        row[f"{label}_max"] = round(max(r for r, _ in ratios), 3)
        row[f"{label}_how"] = "/".join(sorted({how for _, how in ratios}))
    row["pick_us"] = round(pick_us(make_balancer(config(algorithm, names, args.maglev_size)),
                                   keys(args.keys), args.rounds), 2)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.hash_scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="10,50,100,1000", help="backend counts (comma-separated)")
    ap.add_argument("--algorithms", default=",".join(ALGORITHMS))
    ap.add_argument("--maglev-size", type=int, default=None, help="fixed Maglev table size (default: sized from N)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=50_000, help="keys per pick-time round")
    ap.add_argument("--sample", type=int, default=400_000,
                    help="keys for moved shares that cannot be computed exactly (table size changed)")
    ap.add_argument("--pick-only", action="store_true", help="only pick µs (works on trees without this module's helpers)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.n.split(",")]
    rows = []
    for algorithm in args.algorithms.split(","):
        for n in counts:
            if args.pick_only:
                balancer = make_balancer(config(algorithm, backend_names(n), args.maglev_size))
                row = {"algorithm": algorithm, "n": n,
                       "pick_us": round(pick_us(balancer, keys(args.keys), args.rounds), 2)}
                print(f"{algorithm:16} N={n:5}  pick {row['pick_us']:.2f} µs", flush=True)
            else:
                row = measure(algorithm, n, args)
                print(f"{algorithm:16} N={n:5}  size {row['size']:7}  build {row['build_ms']:7.1f} ms  "
                      f"{row['mib']:6.2f} MiB  balance {row['balance_min']:.3f}–{row['balance_max']:.3f}  "
                      f"config −1 {row['config_min']:.3f}–{row['config_max']:.3f}×  "
                      f"down −1 {row['down_min']:.3f}–{row['down_max']:.3f}×  pick {row['pick_us']:.2f} µs",
                      flush=True)
            rows.append(row)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"python": sys.version.split()[0], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
