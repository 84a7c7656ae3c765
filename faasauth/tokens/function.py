"""A function access token, as minted by the gateway's token exchange and cached."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from faasauth.tokens.jwt import claim_text
from faasauth.tokens.response import is_token_text


@dataclass
class FunctionToken:
    """A function access token minted by the gateway's token exchange."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    scope: str | None = None
    audience: list[str] = field(default_factory=list)
    obtained_at: float = 0.0
    # Whose it is: the `sub` of the subject token it was exchanged for (for `status`).
    subject: str | None = None

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
                expires_at=_finite(entry.get("expires_at")),
                scope=entry.get("scope"),
                audience=[str(a) for a in entry.get("audience") or []],
                obtained_at=float(entry.get("obtained_at") or 0.0),
                subject=claim_text(entry.get("subject")),
            )
        except (KeyError, TypeError, ValueError):
            return None
        # One written by an older faasauth that did not check: a miss, never printed.
        return token if is_token_text(token.access_token) else None


def _finite(value: Any) -> float | None:
    # Infinity or NaN in a (tampered or damaged) entry: unknown, never "valid forever".
    from faasauth.tokens.expiry import finite_number

    if value is None:
        return None
    if not finite_number(value):
        raise ValueError("not a finite number")
    return float(value)


@dataclass
class ObtainedToken:
    """A function token, whether it came from the cache, and its cache key."""

    token: FunctionToken = field(repr=False)
    cached: bool
    key: str
