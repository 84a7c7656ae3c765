"""JWT helpers without verification: claims for display and expiry, masking."""

from __future__ import annotations

import base64
import json
from typing import Any

# Redaction lives in faasauth.tokens.redact; these names stay importable from here.
from faasauth.tokens.redact import redact_tokens, secret_forms

__all__ = [
    "claim_text", "mask", "redact_tokens", "secret_forms", "subject_of", "unverified_claims",
]


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


def claim_text(value: Any) -> str | None:
    """A claim's value when it is a non-empty string: a claim that is not (`"iss": 5`) is
    not shown, nor stored to be refused later."""
    return value if isinstance(value, str) and value else None


def subject_of(token: str) -> str | None:
    """The `sub` of a JWT, unverified (for display: whose a token is), or None."""
    return claim_text(unverified_claims(token).get("sub"))


def mask(token: str | None) -> str:
    """Enough of a token to tell two apart, never enough to use."""
    if not token:
        return "-"
    return f"{token[:6]}...{token[-4:]}" if len(token) > 16 else "..."
