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
