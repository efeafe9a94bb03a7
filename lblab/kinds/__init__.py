"""Node kinds: one module per role, all in one registry (``lblab.kinds.registry``).

Importing this package registers every shipped kind; to add one, write a module like
``lblab/kinds/backend.py`` and import it here (docs/architecture.md has the recipe)."""
# the registry's order (role lists in messages, convergence, status) is this import order
from lblab.kinds import client, dns, router, lb, backend, etcd, redis, prometheus  # noqa: F401, I001
from lblab.kinds import orchestrator, console  # noqa: F401, I001
from lblab.daemons.base import DAEMON_CLASSES
from lblab.kinds.base import Check, Hazard, NodeKind
from lblab.kinds.registry import kind_of, kinds, register, registered, roles


def known_daemons() -> tuple[str, ...]:
    """Every daemon name a node can run (to validate fault targets before a lab exists)."""
    return tuple(sorted(DAEMON_CLASSES))


__all__ = ["Check", "Hazard", "NodeKind", "kind_of", "kinds", "known_daemons", "register", "registered", "roles"]
