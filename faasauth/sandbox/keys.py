"""Signing keys of the sandbox's two issuers (the IdP and the gateway) and their JWKS.

ES256 on P-256: generating a key takes about a millisecond where RSA-2048 takes tens to
hundreds, and the sandbox must start in well under a second. The key id is the RFC 7638
thumbprint of the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        numbers = self.public_key.public_numbers()
        self._members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        canonical = json.dumps(self._members, separators=(",", ":"), sort_keys=True)
        self.kid = b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, str]:
        return {**self._members, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        header = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(dict(claims), self._private, algorithm=ALGORITHM, headers=header)

    def verify(self, token: str, *, leeway: float = 0, verify_exp: bool = True) -> dict[str, Any]:
        """Claims of a token this key signed; raises jwt.PyJWTError otherwise.

        Only signature and expiry are checked here; issuer and audience are the caller's.
        """
        return jwt.decode(
            token,
            self.public_key,
            algorithms=[ALGORITHM],
            leeway=leeway,
            options={"verify_aud": False, "verify_iss": False, "verify_exp": verify_exp},
        )


def jwks(keys: Iterable[SigningKey]) -> dict[str, list[dict[str, str]]]:
    return {"keys": [key.public_jwk() for key in keys]}
