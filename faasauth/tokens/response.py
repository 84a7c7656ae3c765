"""A token endpoint's answer (RFC 6749 5.1 / 5.2, RFC 8693 2.2), checked once, here.

Every token answer faasauth reads (client credentials, device grant, refresh, the gateway's
token exchange) becomes a `TokenResponse` through `TokenResponse.from_json`, or a
`TokenError`; nothing downstream looks at the raw JSON.

A token is printed (`exchange -o token`, `auth --print-token`) and sent in a header, so
every token in an answer must be `token_text`: visible ASCII, nothing else. A server's
token holding ESC/OSC sequences (a clipboard write, a cleared screen, a new window title),
a line break or a space is refused here, before anything stores, sends or prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from faasauth.tokens.expiry import parse_seconds
from faasauth.tokens.jwt import redact_tokens

# RFC 6749 A.12-A.17 (VSCHAR) without the space: RFC 6750's b64token and the JWT alphabet
# (base64url and `.`) lie within it. The one rule for every token faasauth prints or sends.
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")
_TOKENS = {"access_token": "an access_token", "refresh_token": "a refresh_token",
           "id_token": "an id_token"}


def is_token_text(value: str) -> bool:
    """Whether `value` may be a token: one or more visible ASCII characters, no space, no
    control character, nothing beyond ASCII."""
    return _TOKEN_TEXT.fullmatch(value) is not None


class UnsafeToken(ValueError):
    """An answer whose token is not `is_token_text` (the server is at fault)."""


@dataclass(frozen=True)
class TokenResponse:
    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_in: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    issued_token_type: str | None = None

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
        for name, value in (("access_token", access_token), ("refresh_token",
                            texts["refresh_token"]), ("id_token", texts["id_token"])):
            if value is not None and not is_token_text(value):
                # Never the value: it is a secret, and made to do harm where it is shown.
                raise UnsafeToken(
                    f"has {_TOKENS[name]} holding characters no token may hold (control "
                    "characters, spaces or non-ASCII); it was not stored or shown"
                )
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
