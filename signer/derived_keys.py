"""Keys the ECDSA and SM2 algorithms derive from an (AK, SK) pair, and the cache that keeps them.

Derivation is a scalar multiplication (pure Python for SM2: milliseconds), so whoever verifies or
signs repeatedly owns a `DerivedKeyCache`: the gateway one for verifying its clients, each
upstream signer one for its own credential. No process-wide cache: a key derived from a secret
lives exactly as long as the component that holds the secret.
"""
from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from typing import Any, Callable, cast

from cryptography.hazmat.primitives.asymmetric import ec

from signer import sm2
from signer.algorithms import derive_sm2_scalar, p256_private_key

PublicKey = ec.EllipticCurvePublicKey | sm2.Point   # P-256 (cryptography) or an SM2 point
Sm2KeyPair = tuple[int, sm2.Point]


def sm2_key_pair(ak: str, sk: str) -> Sm2KeyPair:
    private_key = derive_sm2_scalar(ak, sk)
    return private_key, sm2.public_key(private_key)


# What each kind of entry is derived from (AK, SK): verification needs public keys, signing the
# private key (and, for SM2's Za, the public point too).
DERIVATIONS: dict[str, Callable[[str, str], Any]] = {
    "ecdsa": lambda ak, sk: p256_private_key(ak, sk).public_key(),
    "sm2": lambda ak, sk: sm2_key_pair(ak, sk)[1],
    "ecdsa-signing": p256_private_key,
    "sm2-signing": sm2_key_pair,
}


def derive(ak: str, sk: str, kind: str) -> Any:
    """The `kind` key of (AK, SK), uncached."""
    return DERIVATIONS[kind](ak, sk)


class DerivedKeyCache:
    """Bounded LRU of keys derived from (AK, SK), owned by whoever verifies or signs.

    Caching roughly halves ECDSA verification cost (and SM2's, whose derivation costs more than
    its verification). Derived keys are keyed by a SHA-256 of kind, AK and SK, so those keys hold
    no secret in clear; keyed HMAC states (`hmac_sha256`) are keyed by the SK they hold anyway.
    Each kind keeps at most `max_entries`.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self._max_entries = max_entries
        self._keys: OrderedDict[bytes, Any] = OrderedDict()
        self._hmacs: OrderedDict[str, hmac.HMAC] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys) + len(self._hmacs)

    def hmac_sha256(self, sk: str) -> hmac.HMAC:
        """An HMAC-SHA256 object keyed with `sk` and fed nothing yet: callers `.copy()` it.

        Copying a keyed state skips what OpenSSL 3's one-shot HMAC repeats per call (fetching
        the MAC by name, hashing the padded key): 1.7 -> 1.1 us per signature. Keyed by the SK
        itself, not a digest of it: the entry is as secret as the SK, and hashing the lookup key
        would cost what the copy saves."""
        prototype = self._hmacs.get(sk)
        if prototype is None:
            prototype = self._hmacs[sk] = hmac.new(sk.encode("utf-8"), digestmod="sha256")
            if len(self._hmacs) > self._max_entries:
                self._hmacs.popitem(last=False)
        else:
            self._hmacs.move_to_end(sk)
        return prototype

    def public_key(self, ak: str, sk: str, kind: str = "ecdsa") -> PublicKey:
        """The public key of `kind` ("ecdsa": P-256, "sm2": an SM2 point) for (AK, SK)."""
        return cast(PublicKey, self.get(ak, sk, kind))   # DERIVATIONS: "ecdsa" and "sm2" are public keys

    def get(self, ak: str, sk: str, kind: str) -> Any:
        """The `kind` key (see DERIVATIONS) of (AK, SK), derived on first use."""
        slot = hashlib.sha256(f"{kind}:{len(ak)}:{ak}:{sk}".encode("utf-8")).digest()
        key = self._keys.get(slot)
        if key is None:
            key = derive(ak, sk, kind)
            self._keys[slot] = key
            if len(self._keys) > self._max_entries:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(slot)
        return key
