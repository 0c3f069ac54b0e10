"""Revoked token ids with a change cursor, so replicas pull only what is new.

The cursor is a sequence number, not a timestamp: two revocations in the same clock tick can
never hide each other. An id is kept until its token would have expired anyway.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True)
class Revocation:
    seq: int
    token_id: str
    expires_at: float


class RevocationLog:
    def __init__(self) -> None:
        self._entries: list[Revocation] = []  # ascending seq
        self._seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def revoke(self, token_id: str, ttl_s: float, now: float) -> None:
        self._seq += 1
        live = [e for e in self._entries if e.expires_at > now and e.token_id != token_id]
        live.append(Revocation(self._seq, token_id, now + ttl_s))
        self._entries = live

    def since(self, cursor: float, now: float) -> tuple[list[str], float]:
        """Ids revoked after `cursor` and still live, and the cursor to pass next time."""
        if cursor > self._seq:  # the cursor is from another store's life: start over
            cursor = 0
        start = bisect.bisect_right([e.seq for e in self._entries], cursor)
        ids = [e.token_id for e in self._entries[start:] if e.expires_at > now]
        return ids, float(self._seq)
