"""Token signing keys: one signing key plus verification keys by `kid`, parsed once at startup.

WHY this shape:
- `verify()` runs on every request, so PEMs are parsed here once and the key objects reused.
- A key's algorithm follows from its type (EC P-256 -> ES256, RSA >= 2048 bits -> RS256) and is
  never read from a token, so `alg: none` or HMAC-with-the-public-key cannot be smuggled in.
- Without `tokens.signing_key_file` the key is generated once into `state_dir` (0600, written to
  a temporary file then hard-linked into place so two replicas starting together agree on one
  key), and reused on restart, so issued tokens stay valid.
- Extra verification keys (public or private PEMs) let tokens signed by a retired key verify
  during a rotation.
- Temporary credentials need a server secret every replica agrees on without shared state:
  it is derived (HKDF) from the signing private key, so the key file is the only shared secret.
"""
from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence, Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, rsa.RSAPublicKey]

ALGORITHMS = ("ES256", "RS256")
GENERATED_KEY_NAME = "token-signing.pem"
GENERATED_RSA_BITS = 3072
MIN_RSA_BITS = 2048
KID_LENGTH = 16
SECRET_SALT = b"ddm-gateway"
SECRET_INFO = b"ddm-gateway/temporary-credentials/v1"
MAX_PEM_BYTES = 64 * 1024


class KeyRingError(ValueError):
    """A key file is missing, unreadable, encrypted or of the wrong type (message names the file)."""


@dataclass(frozen=True)
class VerificationKey:
    """A public key and the one algorithm a token under its `kid` may use."""

    kid: str
    algorithm: str
    public_key: PublicKey = field(repr=False, compare=False)


@dataclass(frozen=True)
class KeyRing:
    """The signing key and every key a token may be verified with, by `kid`."""

    signing_kid: str
    algorithm: str  # "ES256" | "RS256"
    signing_key: PrivateKey = field(repr=False, compare=False)
    verification_keys: Mapping[str, VerificationKey] = field(repr=False, compare=False)

    @classmethod
    def load_or_create(cls, *, signing_key_file: Path | str | None, state_dir: Path | str,
                       verification_key_files: Sequence[Path | str] = (),
                       algorithm: str = "ES256") -> "KeyRing":
        """Load the configured signing key, or the one generated into `state_dir` (created once)."""
        if algorithm not in ALGORITHMS:
            raise KeyRingError(f"tokens.algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
        if signing_key_file is not None:
            path = Path(signing_key_file)
        else:
            path = ensure_generated_key(Path(state_dir), algorithm)
        signing_key = load_private_key(path)
        actual = algorithm_of(signing_key, path)
        if actual != algorithm:
            raise KeyRingError(f"{path} holds a {actual} key but tokens.algorithm is {algorithm}")
        extra = [load_public_key(Path(p)) for p in verification_key_files]
        return cls.from_keys(signing_key, extra)

    @classmethod
    def from_keys(cls, signing_key: PrivateKey, extra_public_keys: Sequence[PublicKey] = ()) -> "KeyRing":
        """A ring from key objects (used by `load_or_create`, handy in tests)."""
        signing = verification_key_for(signing_key.public_key())
        keys = {signing.kid: signing}
        for public_key in extra_public_keys:
            key = verification_key_for(public_key)
            keys.setdefault(key.kid, key)
        return cls(signing.kid, signing.algorithm, signing_key, MappingProxyType(keys))

    def verification_key(self, kid: object) -> VerificationKey | None:
        """The key for a token's `kid` header, or None when unknown (or not even a string)."""
        return self.verification_keys.get(kid) if isinstance(kid, str) else None

    def secret_key_material(self) -> bytes:
        """A 32-byte server secret derived from the signing private key (same file -> same secret)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=SECRET_SALT, info=SECRET_INFO)
        return hkdf.derive(private_scalar(self.signing_key))


def private_scalar(key: PrivateKey) -> bytes:
    """The key's secret number, independent of how the PEM happened to be serialized."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.private_numbers().private_value
    else:
        value = key.private_numbers().d
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def algorithm_of(key: PrivateKey | PublicKey, source: object = "key") -> str:
    """ES256 for EC P-256, RS256 for RSA >= 2048 bits; anything else is refused."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise KeyRingError(f"{source}: EC keys must use curve P-256 (secp256r1), not {key.curve.name}")
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size >= MIN_RSA_BITS:
            return "RS256"
        raise KeyRingError(f"{source}: RSA keys must have at least {MIN_RSA_BITS} bits")
    raise KeyRingError(f"{source}: only EC P-256 (ES256) and RSA (RS256) keys are supported")


def kid_of(public_key: PublicKey) -> str:
    """base64url(sha256(SubjectPublicKeyInfo DER))[:16]: stable across replicas and restarts."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode("ascii")[:KID_LENGTH]


def verification_key_for(public_key: PublicKey) -> VerificationKey:
    return VerificationKey(kid_of(public_key), algorithm_of(public_key), public_key)


def read_pem(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PEM_BYTES + 1)
    except OSError as err:
        raise KeyRingError(f"cannot read key file {path}: {err.strerror or err}") from None
    if len(data) > MAX_PEM_BYTES:
        raise KeyRingError(f"key file {path} is larger than {MAX_PEM_BYTES} bytes")
    return data


def load_private_key(path: Path) -> PrivateKey:
    """An unencrypted PEM private key; the parser's own message is not echoed (it may quote key bytes)."""
    data = read_pem(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyRingError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise KeyRingError(f"{path}: only EC P-256 (ES256) and RSA (RS256) keys are supported")
    algorithm_of(key, path)
    return key


def load_public_key(path: Path) -> PublicKey:
    """A verification key from a PEM public key, or from a private key (its public half)."""
    data = read_pem(path)
    if b"PRIVATE KEY-----" in data:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyRingError(f"{path} is not a PEM public or private key") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise KeyRingError(f"{path}: only EC P-256 (ES256) and RSA (RS256) keys are supported")
    algorithm_of(key, path)
    return key


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_RSA_BITS)


def ensure_generated_key(state_dir: Path, algorithm: str) -> Path:
    """`state_dir/token-signing.pem`, generated on first use; an existing file is never replaced."""
    path = state_dir / GENERATED_KEY_NAME
    if path.exists():
        return path
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise KeyRingError(f"cannot create state_dir {state_dir}: {err.strerror or err}") from None
    pem = generate_private_key(algorithm).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    publish_once(path, pem)
    return path


def publish_once(path: Path, data: bytes) -> None:
    """Write to a private temporary file, then link it into place; the first writer wins."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        link_without_replacing(tmp, path)
    except OSError as err:
        raise KeyRingError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)


def link_without_replacing(source: Path, target: Path) -> None:
    """Hard link (atomic, fails if the target exists); rename on file systems without links."""
    try:
        os.link(source, target)
    except FileExistsError:
        return
    except OSError:
        if not target.exists():
            os.replace(source, target)
