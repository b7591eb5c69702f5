"""The physiotherapist's signature on a profile (issue 19, finding 1).

An unkeyed checksum only catches damage: whoever edits a profile can recompute it. So when she
accepts, the profile is signed with an Ed25519 key *derived from her secret* (scrypt over the
secret and a salt kept in the profile) — the key exists only while she types it; the device keeps
the public half, which verifies. A profile edited afterwards no longer verifies and is refused.
One forged under another key verifies only under that key: its fingerprint (shown to her when she
accepts, recorded with every session and printed in every export) is not hers, and a key that
differs from the previous version's is flagged. On a device she owns this cannot be made
impossible, only evident — README's "What pfmt protects, and what it cannot".
"""
from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Literal

#: scrypt for the signing seed: as for the secret's hash, with a salt of its own.
SEED_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SignatureState = Literal["verified", "unsigned", "invalid"]


def canonical(d: dict) -> bytes:
    """The bytes a signature covers: the profile without its checksum and signature, keys sorted."""
    body = {k: v for k, v in d.items() if k not in ("checksum", "signature")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _private(secret: str, salt: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 2**20, dklen=32, **SEED_SCRYPT)
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(secret: str, salt: bytes) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _private(secret, salt).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def new_salt() -> str:
    return secrets.token_bytes(16).hex()


def sign(d: dict, secret: str, salt_hex: str) -> dict:
    """The ``signature`` entry for profile dict ``d`` under the key ``secret`` and the salt give."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = _private(secret, bytes.fromhex(salt_hex))
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    return {"alg": "ed25519", "salt": salt_hex, "key": pub, "sig": key.sign(canonical(d)).hex()}


def verify(d: dict) -> SignatureState:
    sig: Any = d.get("signature")
    if sig is None:
        return "unsigned"
    if not isinstance(sig, dict) or sig.get("alg") != "ed25519":
        return "invalid"
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(sig["key"]))
        pub.verify(bytes.fromhex(sig["sig"]), canonical(d))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return "invalid"
    return "verified"


def fingerprint(key_hex: str | None) -> str | None:
    """A public key as the physio reads and compares it: 4 groups of 4 hex digits of its SHA-256."""
    if not key_hex:
        return None
    h = hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()
    return "-".join(h[i:i + 4] for i in range(0, 16, 4))
