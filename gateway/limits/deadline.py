"""A deadline that blames Redis only for time Redis took, not for time this process was busy.

With a plain timeout, a replica whose event loop is saturated (a burst of requests on two cores
shared with other processes) sees its 50 ms store deadline expire while Redis's reply sits
unread, or while the call is still queued behind other callbacks: each round trip (and a new
connection's handshake takes several) waits for a turn of the busy loop. The breaker then opens
on a healthy Redis and the replica serves from its divided fallback, so a burst of 200 requests
from one user let more than the shared 60 through (tests/test_replicas.py caught it).

The channel (`channel.py`) therefore grants up to `GRACE_ROUNDS` more deadlines when the one
that just expired says more about this process than about Redis: the timer fired late (the loop
overslept), or the process spent a good part of the deadline on the CPU. A silent Redis behind
an idle replica still costs exactly one deadline; the worst case is bounded by 1 + GRACE_ROUNDS.
"""
from __future__ import annotations

GRACE_ROUNDS = 2          # 3 x 50 ms stays inside the 200 ms a request may spend on the store
LATE_FRACTION = 0.1       # a timer this much past due means the loop was busy at the deadline
BUSY_FRACTION = 0.25      # this share of the deadline on the CPU means the loop was busy during it


def process_was_busy(late_s: float, cpu_s: float, timeout_s: float) -> bool:
    """True when a deadline that just expired `late_s` past due, after this process spent
    `cpu_s` on the CPU since it was set, says more about this process than about Redis."""
    return late_s >= timeout_s * LATE_FRACTION or cpu_s >= timeout_s * BUSY_FRACTION
