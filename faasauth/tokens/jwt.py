"""Token records as kept in the store, and their expiry."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, TypeGuard

Clock = Callable[[], float]
system_clock: Clock = time.time

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only for display and expiry, never for trust.

    Decoded by hand because importing pyjwt (and with it cryptography) would cost a warm
    invoke more than everything else it does.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def expires_at_from(response: Mapping[str, Any], token: str, now: float) -> float | None:
    """`expires_in` at receipt, else the JWT `exp` claim, else unknown (None)."""
    expires_in = response.get("expires_in")
    if _finite_number(expires_in):
        return now + float(expires_in)
    if isinstance(expires_in, str) and expires_in.isascii() and expires_in.isdigit():
        if len(expires_in) < 12:  # "²".isdigit() too, and float("9" * 400) is inf
            return now + float(expires_in)
    exp = unverified_claims(token).get("exp")
    if _finite_number(exp):
        return float(exp)
    return None


def _finite_number(value: Any) -> TypeGuard[int | float]:
    # Python's json accepts NaN and Infinity (and 1e999 is inf): a token must not be
    # cached forever, nor crash the rendering of its expiry, because of one.
    # (NaN compares false; a huge int compares exactly, where float() would overflow.)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e12


def mask(token: str | None) -> str:
    """Enough of a token to tell two apart, never enough to use."""
    if not token:
        return "-"
    return f"{token[:6]}…{token[-4:]}" if len(token) > 16 else "…"


def redact_tokens(text: str, *secrets: str | None) -> str:
    """Remove JWT-shaped strings and the given secrets from text shown to people."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "<redacted>")
    return _JWT_SHAPE.sub("<redacted>", text)


@dataclass
class FunctionToken:
    """A function access token minted by the gateway's token exchange."""

    access_token: str
    token_type: str = "Bearer"
    expires_at: float | None = None
    scope: str | None = None
    audience: list[str] = field(default_factory=list)
    obtained_at: float = 0.0

    def seconds_left(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

    def usable(self, now: float, min_ttl: float) -> bool:
        # A token of unknown lifetime is used once and not trusted from the cache.
        left = self.seconds_left(now)
        return left is not None and left >= min_ttl

    def to_entry(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> FunctionToken | None:
        try:
            token = cls(
                access_token=str(entry["access_token"]),
                token_type=str(entry.get("token_type") or "Bearer"),
                expires_at=None if entry.get("expires_at") is None else float(entry["expires_at"]),
                scope=entry.get("scope"),
                audience=[str(a) for a in entry.get("audience") or []],
                obtained_at=float(entry.get("obtained_at") or 0.0),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return token if token.access_token else None
