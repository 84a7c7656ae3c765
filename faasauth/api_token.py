"""The OpenFaaS API token: the gateway's /oauth/token without `scope=function`.

What `faas-cli pro auth` keeps in config.yml as an `auth: oauth2` entry (see
faasauth.faas_cli_config); it is itself a subject token for the function-token exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faasauth.errors import ExchangeRefused, MalformedResponse, TransientFailure

if TYPE_CHECKING:
    from faasauth.context import Context

ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@dataclass(frozen=True)
class ApiToken:
    access_token: str
    expires_at: float | None
    issued_token_type: str | None


def request_api_token(ctx: Context, subject_token: str) -> ApiToken:
    """An OpenFaaS API token for `subject_token`: the gateway's /oauth/token without
    `scope=function`, what `faas-cli pro auth` keeps in config.yml as `auth: oauth2`."""
    import httpx

    from faasauth.exchange import _error_text
    from faasauth.http import summarise_body, transport_failure
    from faasauth.tokens import expires_at_from, redact_tokens

    url = f"{ctx.settings.gateway}/oauth/token"
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ID_TOKEN,
    }
    sent_at = ctx.now()
    try:
        response = ctx.client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise transport_failure(exc, "API token exchange", ctx.settings) from exc
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if status >= 500:
        raise TransientFailure(
            f"API token exchange failed: the gateway answered {status} "
            f"({summarise_body(response, subject_token)})"
        )
    if status >= 400:
        error = _error_text(body)
        if error is not None or status in (401, 403):
            said = error or f"the gateway answered {status}"
            raise ExchangeRefused(
                f"API token exchange refused: {redact_tokens(said, subject_token)}",
                hint="check the gateway's JwtIssuer, Role and Policy for this identity",
            )
    if status != 200 or not isinstance(body, dict):
        raise MalformedResponse(
            f"API token exchange failed: unexpected answer {status} "
            f"({summarise_body(response, subject_token)})"
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise MalformedResponse("API token exchange failed: the answer has no access_token")
    issued = body.get("issued_token_type")
    return ApiToken(
        token, expires_at_from(body, token, sent_at), issued if isinstance(issued, str) else None
    )
