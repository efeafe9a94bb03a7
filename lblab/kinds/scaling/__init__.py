"""Scaling modes: how clients reach the LB tier, one module per mode, one registry.

Importing this package registers every shipped mode; to add one, write a module like
``ecmp_static.py`` and import it here (docs/architecture.md has the recipe)."""
from lblab.kinds.scaling.base import Record, ScalingMode, active_lbs
from lblab.kinds.scaling.registry import mode_names, mode_of, modes, register
# the registry's order (messages, docs) is this import order
from lblab.kinds.scaling import anycast, dns, vip, ecmp_static  # noqa: F401, E402, I001

__all__ = ["Record", "ScalingMode", "active_lbs", "mode_names", "mode_of", "modes", "register"]
