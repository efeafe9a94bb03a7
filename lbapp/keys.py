"""Names shared by every component: etcd keys and Redis channels of one load balancer."""
import re

# what an LB id or a node name may be, being one segment of a key
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


LB_PREFIX = "/lblab/lb/"
AUDIT_PREFIX = "/lblab/audit/"
STATUS_PREFIX = "/lblab/status/"
ORCHESTRATOR_ELECTION = "/lblab/orchestrator/leader"
ORCHESTRATOR_SHARDS_PREFIX = "/lblab/orchestrator/shards/"
ORCHESTRATOR_MEMBERS_PREFIX = "/lblab/orchestrator/members/"
AGENTS_PREFIX = "/lblab/agents/"
DESIRED_PREFIX = "/lblab/desired/"


def config_key(lb_id: str) -> str:
    """etcd key holding the LB config JSON (lbapp.config.schema.LBConfig)."""
    return f"/lblab/lb/{lb_id}/config"


def health_prefix(lb_id: str) -> str:
    """etcd prefix under which health checkers write one key per backend name."""
    return f"/lblab/lb/{lb_id}/health/"


def config_channel(lb_id: str) -> str:
    """Redis pub/sub channel: a message means 'config or health of this LB changed, re-read etcd'."""
    return f"lblab:lb:{lb_id}:config"


def lb_id_of_config_key(key: str) -> str | None:
    """The lb_id of a key that is some LB's config key, else None."""
    if key.startswith(LB_PREFIX) and key.endswith("/config"):
        lb_id = key[len(LB_PREFIX):-len("/config")]
        if lb_id and "/" not in lb_id:
            return lb_id
    return None


def drain_key(lb_id: str, node: str) -> str:
    """etcd key present while an operator wants LB server ``node`` of ``lb_id`` drained."""
    return f"/lblab/lb/{lb_id}/drain/{node}"


def audit_key(time_ns: int, write_id: str) -> str:
    """One console change: keys sort by time (nanoseconds, zero-padded)."""
    return f"{AUDIT_PREFIX}{time_ns:020d}-{write_id}"


def announce_status_key(node: str) -> str:
    """Written by the node's status reporter (lbapp.statusreport) from its announcer's state:
    {"announced": bool or null, "at": unix time, ...} for LB node ``node``, on a lease."""
    return f"{STATUS_PREFIX}announce/{node}"


def dns_vip_status_key() -> str:
    """Written by the status reporter of the DNS node holding the VIP (lbapp.statusreport):
    {"address": ip, "holder": node, "at": unix time}, on its lease; absent while nobody reports."""
    return f"{STATUS_PREFIX}dns_vip"


# -- the orchestrator cluster (lbapp.orchestrator) and the LB node agents (lbapp.agent) --------

def shard_key(member: str) -> str:
    """The targets one orchestrator member checks (lbapp.orchestrator.values.Shard)."""
    return ORCHESTRATOR_SHARDS_PREFIX + member


def member_key(member: str) -> str:
    """Leased registration of one orchestrator member (lbapp.orchestrator.values.MemberInfo)."""
    return ORCHESTRATOR_MEMBERS_PREFIX + member


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
