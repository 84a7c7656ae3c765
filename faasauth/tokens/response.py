"""A token endpoint's answer (RFC 6749 5.1 / 5.2, RFC 8693 2.2), checked once, here.

Every token answer faasauth reads (client credentials, device grant, refresh, the gateway's
token exchange) becomes a `TokenResponse` through `TokenResponse.from_json`, or a
`TokenError`; nothing downstream looks at the raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from faasauth.tokens.expiry import parse_seconds
from faasauth.tokens.jwt import redact_tokens


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    token_type: str = "Bearer"
    expires_in: float | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None
    issued_token_type: str | None = None

    def __repr__(self) -> str:  # every field but these is a secret
        return f"TokenResponse(token_type={self.token_type!r}, expires_in={self.expires_in!r})"

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TokenResponse:
        """The answer, or ValueError saying what is wrong with it (never echoing a value)."""
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("has no access_token")
        texts: dict[str, str | None] = {}
        for name in ("token_type", "refresh_token", "id_token", "scope", "issued_token_type"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"has a {name} that is not a string")
            texts[name] = value or None
        return cls(
            access_token=access_token,
            token_type=texts["token_type"] or "Bearer",
            expires_in=parse_seconds(body.get("expires_in")),
            refresh_token=texts["refresh_token"],
            id_token=texts["id_token"],
            scope=texts["scope"],
            issued_token_type=texts["issued_token_type"],
        )


@dataclass(frozen=True)
class TokenError:
    """An OAuth error answer (`error`, `error_description`), secrets already redacted."""

    status: int
    error: str
    description: str | None

    def message(self, limit: int = 300) -> str:
        """`error: description`, redacted, then cut to `limit` characters: the server's
        text is a hint, not a document (and cut only once no secret is left in it)."""
        text = f"{self.error}: {self.description}" if self.description else self.error
        text = redact_tokens(text)
        return text if len(text) <= limit else text[: limit - 1] + "…"
