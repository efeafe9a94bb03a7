"""Names shared by every component: etcd keys and Redis channels of one load balancer."""


def config_key(lb_id: str) -> str:
    """etcd key holding the LB config JSON (lbapp.config.schema.LBConfig)."""
    return f"/lblab/lb/{lb_id}/config"


def health_prefix(lb_id: str) -> str:
    """etcd prefix under which health checkers write one key per backend name."""
    return f"/lblab/lb/{lb_id}/health/"


def config_channel(lb_id: str) -> str:
    """Redis pub/sub channel: a message means 'config or health of this LB changed, re-read etcd'."""
    return f"lblab:lb:{lb_id}:config"


# -- the orchestrator cluster (lbapp.orchestrator) and the LB node agents (lbapp.agent) --------

LB_PREFIX = "/lblab/lb/"
ORCH_PREFIX = "/lblab/orch/"
ELECTION = ORCH_PREFIX + "election"
MEMBERS_PREFIX = ORCH_PREFIX + "members/"
ASSIGNMENT = ORCH_PREFIX + "assignment"
AGENTS_PREFIX = "/lblab/agents/"
DESIRED_PREFIX = "/lblab/desired/"


def lb_id_of_config_key(key: str) -> str | None:
    """'/lblab/lb/<id>/config' -> '<id>'; None for any other key."""
    if not key.startswith(LB_PREFIX) or not key.endswith("/config"):
        return None
    lb_id = key[len(LB_PREFIX):-len("/config")]
    return lb_id if lb_id and "/" not in lb_id else None


def member_key(member: str) -> str:
    """Leased registration of one orchestrator member (lbapp.orchestrator.values.MemberInfo)."""
    return MEMBERS_PREFIX + member


def health_key(lb_id: str, backend: str) -> str:
    """Health of one backend of one LB, written by the member checking it."""
    return health_prefix(lb_id) + backend


def target_name(lb_id: str, backend: str) -> str:
    """One health-check target: a backend of one LB ('payment/be1')."""
    return f"{lb_id}/{backend}"


def split_target(target: str) -> tuple[str, str]:
    lb_id, _, backend = target.partition("/")
    return lb_id, backend


def agent_key(node: str) -> str:
    """Leased registration of the agent on one LB node, with the state it reached."""
    return AGENTS_PREFIX + node


def desired_key(node: str) -> str:
    """Desired state of one LB node ('active' / 'standby'), written by the orchestrator leader."""
    return DESIRED_PREFIX + node
