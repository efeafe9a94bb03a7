"""Checks: one class per check kind (model + judge) in the modules of this package, one
registry (``CHECKS``, in this import order)."""
from . import traffic, dns, served, routes, config, orchestrator  # noqa: F401, I001
from .base import CHECKS, CheckModel, CheckResult, Context, RoutePoll, judge, judge_all, route_targets

__all__ = ["CHECKS", "CheckModel", "CheckResult", "Context", "RoutePoll", "judge", "judge_all", "route_targets"]
