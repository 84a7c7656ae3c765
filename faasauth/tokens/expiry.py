"""Clocks and expiry: when a token stops being usable."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, TypeGuard

from faasauth.tokens.jwt import unverified_claims

Clock = Callable[[], float]
system_clock: Clock = time.time


def expires_at_from(response: Mapping[str, Any], token: str, now: float) -> float | None:
    """`expires_in` at receipt, else the JWT `exp` claim, else unknown (None)."""
    return expires_at(parse_seconds(response.get("expires_in")), token, now)


def expires_at(expires_in: float | None, token: str, now: float) -> float | None:
    """`expires_in` (already parsed) at receipt, else the JWT `exp` claim, else None."""
    if expires_in is not None:
        return now + expires_in
    exp = unverified_claims(token).get("exp")
    if finite_number(exp):
        return float(exp)
    return None


def parse_seconds(value: Any) -> float | None:
    """A lifetime in seconds as a server sent it (some send numbers as strings), or None."""
    if finite_number(value):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) < 12:  # "²".isdigit() too, and float("9" * 400) is inf
            return float(value)
    return None


def finite_number(value: Any) -> TypeGuard[int | float]:
    # Python's json accepts NaN and Infinity (and 1e999 is inf): a token must not be
    # cached forever, nor crash the rendering of its expiry, because of one.
    # (NaN compares false; a huge int compares exactly, where float() would overflow.)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e12


def lifetime(seconds: float) -> str:
    """`45 s` under a minute (not `0 min`), else whole minutes."""
    return f"{max(0, int(seconds))} s" if seconds < 60 else f"{int(seconds // 60)} min"
