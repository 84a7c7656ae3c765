"""The refresh token grant (RFC 6749 6): a new token set for a login without a person."""

from __future__ import annotations

from faasauth.idp.forms import GRANT_REFRESH_TOKEN, Client, post_form
from faasauth.runtime import Runtime
from faasauth.errors import MalformedResponse
from faasauth.tokens.response import TokenError, TokenResponse, UnsafeToken


def refresh(
    rt: Runtime, token_endpoint: str, refresh_token: str, client: Client
) -> TokenResponse | TokenError | None:
    """The new token set, the provider's refusal, or None for an answer without a token."""
    form = {"grant_type": GRANT_REFRESH_TOKEN, "refresh_token": refresh_token}
    result = post_form(rt, token_endpoint, form, client, "renewing the login")
    if isinstance(result, TokenError):
        return result
    try:
        return TokenResponse.from_json(result)
    except UnsafeToken as problem:  # not "no token": a token that must not be kept
        raise MalformedResponse(f"renewing the login failed: the token endpoint's answer "
                                f"{problem}") from None
    except ValueError:
        return None
