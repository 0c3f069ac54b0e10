"""SM2 signatures (GB/T 32918.2-2016) over the SM2 curve, in pure Python, as the SDK computes them.

`cryptography` has no SM2, so the curve math lives here: Jacobian coordinates (one modular
inversion per scalar multiplication), a regular Montgomery ladder for secret scalars (private
keys, nonces) and a shared-doubling 4-bit window for the public `[s]G + [t]Q` of verification.
Signatures are DER `SEQUENCE { INTEGER r, INTEGER s }`, parsed by hand and strictly.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Callable

# Curve parameters (GB/T 32918.5-2017), as huaweicloudsdkcore.signer.utils.SM2SigningKey has them.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC  # = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
DEFAULT_USER_ID = b"1234567812345678"  # the SDK's (and the standard's) default signer ID

Point = tuple[int, int]          # affine (x, y); the point at infinity never leaves this module
Jacobian = tuple[int, int, int]  # (X, Y, Z) for x = X/Z^2, y = Y/Z^3; Z == 0 is infinity
INFINITY: Jacobian = (1, 1, 0)
G: Point = (GX, GY)
WINDOW_BITS = 4
WINDOWS = 64  # 256 bits / WINDOW_BITS


def _double(pt: Jacobian) -> Jacobian:
    """dbl-2001-b (a = -3): 3M + 5S, no inversion."""
    x, y, z = pt
    if z == 0 or y == 0:
        return INFINITY
    delta = z * z % P
    gamma = y * y % P
    beta = x * gamma % P
    alpha = 3 * (x - delta) * (x + delta) % P
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y + z) * (y + z) - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return x3, y3, z3


def _add(p1: Jacobian, p2: Jacobian) -> Jacobian:
    """add-1998-cmo-2, falling back to doubling (P1 == P2) or infinity (P1 == -P2)."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1, z2z2 = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2z2 % P, x2 * z1z1 % P
    s1, s2 = y1 * z2 * z2z2 % P, y2 * z1 * z1z1 % P
    h, r = (u2 - u1) % P, (s2 - s1) % P
    if h == 0:
        return _double(p1) if r == 0 else INFINITY
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    return x3, y3, z1 * z2 * h % P


def _to_affine(pt: Jacobian) -> Point | None:
    x, y, z = pt
    if z == 0:
        return None
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return x * z_inv2 % P, y * z_inv2 * z_inv % P


def is_on_curve(point: Point) -> bool:
    x, y = point
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def ladder_multiply(k: int, point: Point) -> Point | None:
    """[k]point by a Montgomery ladder over a fixed 257-bit scalar (k + n or k + 2n).

    For SECRET scalars: every step is one addition and one doubling whatever the bit, so the
    operation sequence does not depend on the key (CPython's big integers are still not
    constant-time; this removes the control-flow leak, the coarse one).
    """
    k %= N
    fixed = k + N if (k + N).bit_length() == N.bit_length() + 1 else k + 2 * N
    low, high = (point[0], point[1], 1), _double((point[0], point[1], 1))
    for bit in range(N.bit_length() - 1, -1, -1):
        if (fixed >> bit) & 1:
            low, high = _add(low, high), _double(high)
        else:
            low, high = _double(low), _add(low, high)
    return _to_affine(low)


def _window_table(point: Point) -> tuple[Jacobian, ...]:
    """[0]P .. [15]P, the digits of a 4-bit window."""
    table = [INFINITY, (point[0], point[1], 1)]
    for _ in range(2, 1 << WINDOW_BITS):
        table.append(_add(table[-1], table[1]))
    return tuple(table)


_G_TABLE = _window_table(G)  # constant: [0]G .. [15]G


def _digits(k: int) -> list[int]:
    """The scalar's 4-bit windows, most significant first."""
    mask = (1 << WINDOW_BITS) - 1
    return [(k >> (WINDOW_BITS * i)) & mask for i in range(WINDOWS - 1, -1, -1)]


def double_multiply(u1: int, u2: int, point: Point) -> Point | None:
    """[u1]G + [u2]point for PUBLIC scalars: both windows share one run of 256 doublings."""
    table = _window_table(point)
    acc = INFINITY
    for d1, d2 in zip(_digits(u1 % N), _digits(u2 % N)):
        for _ in range(WINDOW_BITS):
            acc = _double(acc)
        if d1:
            acc = _add(acc, _G_TABLE[d1])
        if d2:
            acc = _add(acc, table[d2])
    return _to_affine(acc)


def public_key(private_key: int) -> Point:
    """Q = [d]G for d in [1, n-1] (the SDK's derivation can, with odds of 2^-256, give n-1, a
    key that cannot sign since 1 + d = n; `sign` then raises)."""
    if not 1 <= private_key <= N - 1:
        raise ValueError("SM2 private key out of range")
    point = ladder_multiply(private_key, G)
    assert point is not None  # d in [1, n-1] never gives infinity
    return point


def _minimal_bytes(value: int) -> bytes:
    """Big-endian without leading zeros, as the SDK's `_int_to_bytes` writes Za's fields."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def za(public: Point, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """SM3(ENTL || ID || a || b || xG || yG || xA || yA), byte for byte as the SDK hashes it.

    The SDK writes each coordinate WITHOUT leading zero bytes (the standard says 32 bytes); for
    the ~1/128 of keys whose xA or yA starts with a zero byte the two differ, and the SDK's
    signature is what must verify, so its encoding is reproduced.
    """
    if len(user_id) >= 8192:
        raise ValueError("SM2 user id too long")
    fields = (A, B, GX, GY, public[0], public[1])
    data = (len(user_id) * 8).to_bytes(2, "big") + user_id + b"".join(_minimal_bytes(f) for f in fields)
    return hashlib.new("sm3", data).digest()


def _digest_scalar(public: Point, message: bytes) -> int:
    """e = SM3(Za || M) as an integer (GB/T 32918.2 steps 1-2)."""
    return int.from_bytes(hashlib.new("sm3", za(public) + message).digest(), "big")


def sign(private_key: int, public: Point, message: bytes,
         random_below: Callable[[int], int] = secrets.randbelow) -> bytes:
    """DER signature of `message` by d (`public` = [d]G, passed in because Za needs it).

    r = (e + x1) mod n with (x1, y1) = [k]G, s = (1 + d)^-1 (k - r d) mod n; a fresh k from
    `secrets` each time, redrawn when r = 0, r + k = n or s = 0 (as the standard says).
    """
    e = _digest_scalar(public, message)
    d_plus_one_inv = pow(private_key + 1, -1, N)
    for _ in range(100):
        k = random_below(N - 1) + 1
        kg = ladder_multiply(k, G)
        assert kg is not None
        r = (e + kg[0]) % N
        if r == 0 or r + k == N:
            continue
        s = d_plus_one_inv * (k - r * private_key) % N
        if s != 0:
            return encode_signature(r, s)
    raise ValueError("SM2 signing failed to find a nonce")  # unreachable with a working RNG


def verify(public: Point, message: bytes, signature: bytes) -> bool:
    """GB/T 32918.2 verification: DER parsed strictly, r and s in [1, n-1], t = r + s != 0,
    R = (e + x([s]G + [t]Q)) mod n must equal r. Any malformed input is simply False."""
    try:
        r, s = decode_signature(signature)
    except ValueError:
        return False
    if not (1 <= r < N and 1 <= s < N) or not is_on_curve(public):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    point = double_multiply(s, t, public)
    if point is None:
        return False
    expected = (_digest_scalar(public, message) + point[0]) % N
    return hmac.compare_digest(expected.to_bytes(32, "big"), r.to_bytes(32, "big"))


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # minimal, with a 0x00 if the top bit is set
    return b"\x02" + bytes((len(body),)) + body


def encode_signature(r: int, s: int) -> bytes:
    """DER SEQUENCE of two positive INTEGERs (at most 70 content bytes: short-form lengths)."""
    content = _der_integer(r) + _der_integer(s)
    return b"\x30" + bytes((len(content),)) + content


def _read_integer(data: bytes, offset: int) -> tuple[int, int]:
    """One DER INTEGER at `offset`: (value, offset after it). Positive, minimal, short length."""
    if offset + 2 > len(data) or data[offset] != 0x02:
        raise ValueError("expected an INTEGER")
    length = data[offset + 1]
    if length == 0 or length > 33:
        raise ValueError("bad INTEGER length")
    body = data[offset + 2:offset + 2 + length]
    if len(body) != length:
        raise ValueError("truncated INTEGER")
    if body[0] & 0x80:
        raise ValueError("negative INTEGER")
    if length > 1 and body[0] == 0 and not body[1] & 0x80:
        raise ValueError("non-minimal INTEGER")
    return int.from_bytes(body, "big"), offset + 2 + length


def decode_signature(data: bytes) -> tuple[int, int]:
    """(r, s) from exactly `30 len 02 len r 02 len s`; ValueError for anything else (long-form
    lengths, wrong tags, negative or non-minimal integers, trailing bytes)."""
    if len(data) < 2 or data[0] != 0x30 or data[1] != len(data) - 2 or data[1] > 0x7F:
        raise ValueError("expected one SEQUENCE spanning the whole signature")
    r, offset = _read_integer(data, 2)
    s, offset = _read_integer(data, offset)
    if offset != len(data):
        raise ValueError("trailing bytes inside the SEQUENCE")
    return r, s
