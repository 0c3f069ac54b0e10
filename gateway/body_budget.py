"""The process-wide budget of request-body bytes buffered at once (`listen.max_buffered_bytes`).

A plain counter shared by every request of the process; the edge's bounded reader
(gateway/http/body.py) takes from it before buffering and gives back when the request ends.
"""
from __future__ import annotations


class BodyBudget:
    """Bytes buffered for request bodies across the process. Plain counters on one event loop,
    so no lock is needed: nothing awaits between the check and the update."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self, size: int) -> bool:
        if self.in_use + size > self.limit:
            return False
        self.in_use += size
        return True

    def give_back(self, size: int) -> None:
        self.in_use -= size
