"""The one etcd client of lblab (asyncio, etcd v3's JSON gateway); see ``client``."""
from lbapp.etcd.client import EtcdClient, Observe, Watch
from lbapp.etcd.codec import (Compacted, Compare, DeleteResult, EtcdError, EtcdTimeout,
                              EtcdUnavailable, KeyValue, LeaderKey, Lease, LeaseNotFound,
                              LeaseTimeToLive, NoLeader, Op, PutResult, RangeResult, TxnResult,
                              WatchEvent, prefix_range_end)

__all__ = ["EtcdClient", "Observe", "Watch", "Compacted", "Compare", "DeleteResult", "EtcdError",
           "EtcdTimeout", "EtcdUnavailable", "KeyValue", "LeaderKey", "Lease", "LeaseNotFound",
           "LeaseTimeToLive", "NoLeader", "Op", "PutResult", "RangeResult", "TxnResult",
           "WatchEvent", "prefix_range_end"]
