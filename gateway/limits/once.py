"""Keys claimed once for a while (SET NX PX, in process): the replay guard's memory.

A claimed key stays taken for `ttl_s`; claiming it again meanwhile fails. All claims made here
share one ttl per caller in practice (the replay window), so insertion order is expiry order and
`evict_expired` from the front keeps memory to the claims of one window.
"""
from __future__ import annotations

from collections import OrderedDict

from .expiry import evict_expired


class OnceKeys:
    def __init__(self) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def claim(self, key: str, ttl_s: float, now: float) -> bool:
        """True for the first claim of `key` within `ttl_s`; False while it is taken."""
        evict_expired(self._until, now, lambda until, at: until <= at)
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until[key] = now + ttl_s
        self._until.move_to_end(key)
        return True
