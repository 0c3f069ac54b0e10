"""Redis Cluster: every key the store writes carries one hash tag, so it lives in one slot.

A check touches a user's, a team's and the global window atomically in one Lua script, and a
script may only touch keys of one slot: so all of the store's keys share the hash tag
(`RedisStore` builds every key as `{tag}:kind:name`) and the whole store is one slot on one
primary. A Cluster gives the store failover (the slot's replica is promoted), not sharding.

The channel keeps one connection to the slot's primary, found through `CLUSTER SLOTS` on the
known nodes (all asked at once, the first answer wins). Replies are followed: MOVED points the
channel at the new owner (the old connection delivers what it owes, then closes), ASK sends
`ASKING` and the command once to the importing node, TRYAGAIN (a script whose keys are split
by a migration in progress: some moved, some not) retries every few ms; a call stops following
`timeout_s` after it was made, and then fails with `StoreUnavailable` like any other.
A failed connection or CLUSTERDOWN looks the slot map up afresh on the next command.
"""
from __future__ import annotations

import asyncio
import binascii
from functools import partial
from typing import Any, Callable, Sequence

from .channel import RedisChannel
from .model import StoreUnavailable
from .redis_url import ClusterAddress, RedisAddress
from .resp import RespError, encode_command

SLOTS = 16384
REDIRECTS = 5             # MOVED / ASK followed per call, at most (TRYAGAIN: until the deadline)
TRYAGAIN_DELAY_S = 0.005
MAX_ASKED = 8             # nodes asked at once for the slot map
CLUSTER_SLOTS = encode_command(["CLUSTER", "SLOTS"])
ASKING = encode_command(["ASKING"])
Node = tuple[str, int]


def key_slot(tag: str) -> int:
    """Redis Cluster's slot for keys whose hash tag is `tag` (CRC16-XMODEM mod 16384)."""
    return binascii.crc_hqx(tag.encode(), 0) % SLOTS


class ClusterLocator:
    """Knows the nodes; names the primary of `slot` from the last MOVED, or the slot map."""

    verifies_role = False

    def __init__(self, address: ClusterAddress, *, timeout_s: float, slot: int, greeting: Sequence[bytes]) -> None:
        self._template = address.seeds[0]
        self._slot = slot
        self._timeout_s = timeout_s
        self._greeting = tuple(greeting)
        self._known: list[Node] = [(seed.host, seed.port) for seed in address.seeds]
        self._nodes: dict[Node, RedisChannel] = {}
        self._hint: Node | None = None
        self.owner: Node | None = None
        self.seed: Node = self._known[0]

    def node(self, node: Node) -> RedisChannel:
        """A channel to one node (slot map questions, ASK), opened on first use."""
        if node not in self._nodes:
            self._nodes[node] = RedisChannel(self._template.at(*node), timeout_s=self._timeout_s,
                                             greeting=self._greeting)
        return self._nodes[node]

    def moved(self, node: Node) -> bool:
        """A MOVED reply named `node`; True when that is news (the primary must reconnect)."""
        if node == self.owner:
            return False
        self.owner = self._hint = node
        return True

    async def locate(self) -> RedisAddress:
        hint, self._hint = self._hint, None
        if hint is None:
            hint = self.owner = await self._ask_slot_map()
        return self._template.at(*hint)

    async def _ask_slot_map(self) -> Node:
        asked = {self.node(node).call(CLUSTER_SLOTS): node for node in self._known[:MAX_ASKED]}
        pending, problems = set(asked), set()
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for answer in done:
                found = self._read_slot_map(answer, asked[answer])
                if isinstance(found, tuple):
                    return found
                problems.add(found)
        raise StoreUnavailable(f"redis: no node knew slot {self._slot}'s primary ({', '.join(sorted(problems))})")

    def _read_slot_map(self, answer: asyncio.Future[Any], asked: Node) -> Node | str:
        if answer.exception() is not None:
            return str(answer.exception()).removeprefix("redis: ")
        reply = answer.result()
        if type(reply) is RespError:
            return reply.kind
        try:
            ranges = [(int(r[0]), int(r[1]), [_node(n, asked) for n in r[2:]]) for r in reply]
        except (TypeError, ValueError, IndexError, AttributeError, UnicodeDecodeError):
            return "unreadable slot map"
        learned = [node for _, _, nodes in ranges for node in nodes]
        self._known = list(dict.fromkeys(self._known[:1] + learned + self._known))
        for first, last, nodes in ranges:
            if first <= self._slot <= last and nodes:
                return nodes[0]
        return f"slot {self._slot} unassigned"

    async def close(self) -> None:
        for channel in self._nodes.values():
            await channel.close()


class ClusterChannel:
    """Commands for the store's slot; redirections are followed before the caller sees a reply."""

    def __init__(self, address: ClusterAddress, *, timeout_s: float, slot: int, greeting: Sequence[bytes] = ()) -> None:
        self._timeout_s = timeout_s
        self._closed = False
        self._locator = ClusterLocator(address, timeout_s=timeout_s, slot=slot, greeting=greeting)
        self._primary = RedisChannel(self._locator, timeout_s=timeout_s, greeting=greeting)

    def call(self, command: bytes) -> asyncio.Future[Any]:
        reply = self._primary.call(command)
        loop = reply.get_loop()
        settled = loop.create_future()
        reply.add_done_callback(partial(self._arrived, settled, command, loop.time() + self._timeout_s, REDIRECTS))
        return settled

    async def close(self) -> None:
        self._closed = True
        await self._primary.close()
        await self._locator.close()

    def _arrived(self, settled: asyncio.Future[Any], command: bytes, until: float, left: int,
                 reply: asyncio.Future[Any]) -> None:
        if reply.cancelled():
            settled.cancel()
            return
        error = reply.exception()
        if settled.done():            # the caller stopped listening
            return
        if error is not None:
            settled.set_exception(error)
            return
        value = reply.result()
        if type(value) is RespError and value.kind in ("MOVED", "ASK", "TRYAGAIN"):
            if (left or value.kind == "TRYAGAIN") and reply.get_loop().time() < until and not self._closed:
                self._follow(settled, command, until, left - 1, value)
            else:
                settled.set_exception(StoreUnavailable(f"redis: {value.kind}"))
            return
        settled.set_result(value)

    def _follow(self, settled: asyncio.Future[Any], command: bytes, until: float, left: int, error: RespError) -> None:
        if error.kind == "TRYAGAIN":   # retried until `until`, however often
            arrived = partial(self._arrived, settled, command, until, left + 1)
            loop = asyncio.get_running_loop()
            loop.call_later(TRYAGAIN_DELAY_S, self._retry, settled, command, arrived)
            return
        arrived = partial(self._arrived, settled, command, until, left)
        node = _target(error, self._locator.owner or self._locator.seed)
        if error.kind == "MOVED":
            if self._locator.moved(node):
                self._primary.retire()
            self._primary.call(command).add_done_callback(arrived)
            return
        channel = self._locator.node(node)   # ASK: this command only, on the importing node
        channel.call(ASKING).add_done_callback(_ignore)
        channel.call(command).add_done_callback(arrived)


    def _retry(self, settled: asyncio.Future[Any], command: bytes,
               arrived: Callable[[asyncio.Future[Any]], None]) -> None:
        if self._closed:   # closed while waiting: open no connection any more
            if not settled.done():
                settled.set_exception(StoreUnavailable("redis: store closed"))
            return
        self._primary.call(command).add_done_callback(arrived)


def _node(entry: list[Any], asked: Node) -> Node:
    """[host, port, id, ...] of a slot map; an empty host means the node that was asked."""
    host = entry[0].decode("ascii") if entry[0] else asked[0]
    return host, int(entry[1])


def _target(error: RespError, current: Node) -> Node:
    """`MOVED 3999 127.0.0.1:6381` -> the node; `:6381` (no host announced) keeps the host."""
    host, _, port = str(error).split(" ")[2].rpartition(":")
    return host or current[0], int(port)


def _ignore(reply: asyncio.Future[Any]) -> None:
    if not reply.cancelled():
        reply.exception()
