"""Evicting idle keys from an OrderedDict, amortized O(1) per access.

Entries are moved to the end whenever they are touched, so the least recently touched sit at the
front; popping expired ones from the front on every access keeps memory proportional to the keys
active within one window, however many distinct keys have ever been seen. (An OrderedDict, not a
dict: finding a plain dict's first item after many deletions from the front scans every hole.)
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, TypeVar

V = TypeVar("V")


def touch(entries: OrderedDict[str, V], key: str, value: V) -> None:
    """(Re)insert `key` at the end: it is now the most recently used."""
    entries[key] = value
    entries.move_to_end(key)


def evict_expired(entries: OrderedDict[str, V], now: float, is_expired: Callable[[V, float], bool],
                  budget: int = 64) -> int:
    """Drop up to `budget` expired entries from the front; stops at the first live one.

    The budget bounds the work of one call; since every call runs it, eviction keeps pace with
    insertion. Entries with a longer lifetime may briefly shield expired ones behind them, which
    only delays their eviction until the shielding entry expires too.
    """
    evicted = 0
    while entries and evicted < budget:
        key = next(iter(entries))
        if not is_expired(entries[key], now):
            break
        entries.popitem(last=False)
        evicted += 1
    return evicted
