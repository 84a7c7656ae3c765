"""JWT helpers without verification: claims for display and expiry, masking, redaction."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

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


def redact_tokens(text: str, *secrets: str | None) -> str:
    """Remove JWT-shaped strings and the given secrets from text shown to people.

    A server that echoes a request shows a secret in the form it was sent in: raw, form- or
    URL-encoded (`%2B` or `%2b`, `+` for a space), or inside an HTTP Basic value (pass
    that value as one of `secrets`): every such form is removed."""
    for secret in secrets:
        if not secret or len(secret) < 8:
            continue
        for form in secret_forms(secret):
            if form in text:
                text = text.replace(form, "<redacted>")
            elif "%" in form:
                text = re.sub(re.escape(form), "<redacted>", text, flags=re.IGNORECASE)
    return _JWT_SHAPE.sub("<redacted>", text)


def secret_forms(secret: str) -> list[str]:
    """The ways a secret appears on the wire: as is, form-encoded, URL-encoded."""
    from urllib.parse import quote, quote_plus

    forms = [secret, quote_plus(secret, safe=""), quote(secret, safe=""), quote(secret)]
    return sorted({f for f in forms if f}, key=len, reverse=True)
