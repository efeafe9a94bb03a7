"""Load-balancing algorithms: pure code, no I/O, no clocks.

Contract used by the LB server (lbapp.lbserver):

    balancer = make_balancer(config, healthy=None)      # config: lbapp.config.schema.LBConfig
    name = balancer.pick(key, exclude)                  # -> backend name, or None if none is usable
    balancer.on_start(name); ...; balancer.on_finish(name)   # in-flight accounting per request

- ``healthy``: backend names the health checker currently reports up (None = all). Backends with
  weight 0 or not healthy are never picked. A new balancer is built when config or health changes;
  hash tables are built from every weighted backend (healthy or not) and cached, so a health
  change reuses the table and moves only the keys of the backends that went down or came back.
- ``key``: bytes for hash algorithms (``balancer.needs_key`` is True), computed by the caller from
  ``config.hash.key`` (client IP, URL path or a header); None for the others.
- ``exclude``: names to skip for this pick (backends already tried for this request, or ejected by
  outlier detection). Hash algorithms fall through to their next choice deterministically.
- ``make_balancer(config, healthy, rng=random.Random(seed))``: optional randomness for ``random``
  and ``power_of_two_choices`` (tests); in-flight counts start at zero in every new balancer.
"""
from lbapp.algorithms.registry import Balancer, build_tables, make_balancer, uses_table

__all__ = ["Balancer", "build_tables", "make_balancer", "uses_table"]
