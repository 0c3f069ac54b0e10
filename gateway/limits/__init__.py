"""Rate limits and the small shared state (AK lockout, token revocation) behind one async store.

`MemoryStore` serves one replica; `RedisStore` shares state between replicas in one atomic round
trip per request; `ResilientStore` puts a deadline, a circuit breaker and a fallback policy in
front of Redis. The limiter maths lives in the pure `sliding_window` module.
"""
from .factory import create_store
from .memory import MemoryStore
from .model import LimitDecision, LimitRule, LimitStore, RuleState, StoreUnavailable
from .redis_store import RedisStore
from .resilient import ResilientStore
from .sliding_window import SlidingWindowLimiter

__all__ = ["LimitDecision", "LimitRule", "LimitStore", "MemoryStore", "RedisStore", "ResilientStore",
           "RuleState", "SlidingWindowLimiter", "StoreUnavailable", "create_store"]
