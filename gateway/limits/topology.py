"""The parsed `store.url` -> the channel that reaches its primary: one node, Sentinel or Cluster."""
from __future__ import annotations

from typing import Sequence

from .channel import Channel, RedisChannel
from .cluster import ClusterChannel
from .redis_url import ClusterAddress, SentinelAddress, StoreAddress
from .sentinel import SentinelChannel


def open_channel(address: StoreAddress, *, timeout_s: float, slot: int, greeting: Sequence[bytes] = ()) -> Channel:
    """`slot`: the one Cluster slot every key of the store hashes to (its hash tag's)."""
    if isinstance(address, SentinelAddress):
        return SentinelChannel(address, timeout_s=timeout_s, greeting=greeting)
    if isinstance(address, ClusterAddress):
        return ClusterChannel(address, timeout_s=timeout_s, slot=slot, greeting=greeting)
    return RedisChannel(address, timeout_s=timeout_s, greeting=greeting)


def key_prefix(address: StoreAddress, namespace: str) -> str:
    """`{ddmgw}:` on a Cluster (a hash tag: every key in one slot), `ddmgw:` elsewhere (the names
    one node and Sentinel have always used, so a rolling upgrade keeps sharing state)."""
    return f"{{{namespace}}}:" if isinstance(address, ClusterAddress) else f"{namespace}:"
