"""Names shared by every component: etcd keys and Redis channels of one load balancer."""


LB_PREFIX = "/lblab/lb/"
AUDIT_PREFIX = "/lblab/audit/"
STATUS_PREFIX = "/lblab/status/"
ORCHESTRATOR_ELECTION = "/lblab/orchestrator/leader"
ORCHESTRATOR_SHARDS_PREFIX = "/lblab/orchestrator/shards/"


def config_key(lb_id: str) -> str:
    """etcd key holding the LB config JSON (lbapp.config.schema.LBConfig)."""
    return f"/lblab/lb/{lb_id}/config"


def health_prefix(lb_id: str) -> str:
    """etcd prefix under which health checkers write one key per backend name."""
    return f"/lblab/lb/{lb_id}/health/"


def dns_records_prefix(lb_id: str) -> str:
    """etcd prefix of the DNS records of this LB's servers (scaling dns; lbapp.dnsrecords)."""
    return f"/lblab/lb/{lb_id}/dns/"


def dns_record_key(lb_id: str, node: str) -> str:
    """The DNS record of one LB server: written by its announcer while the server is ready."""
    return dns_records_prefix(lb_id) + node


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
    """Written by the lab: {"announced": bool, "at": unix time} for LB node ``node``."""
    return f"{STATUS_PREFIX}announce/{node}"


def dns_vip_status_key() -> str:
    """Written by the lab: {"address": ip, "holder": node or null, "at": unix time}."""
    return f"{STATUS_PREFIX}dns_vip"
