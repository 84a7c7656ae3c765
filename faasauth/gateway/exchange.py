"""The gateway's token exchange (RFC 8693) at `<gateway>/oauth/token`: one request,
its answer a FunctionToken or a faasauth error. Caching is faasauth.flows.exchange's."""

from __future__ import annotations

from typing import Any, Literal

from faasauth.errors import ExchangeRefused, MalformedResponse, TransientFailure
from faasauth.runtime import Runtime
from faasauth.tokens.expiry import expires_at
from faasauth.tokens.function import FunctionToken
from faasauth.tokens.response import TokenResponse

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SubjectType = Literal["id_token", "access_token", "jwt"]
SUBJECT_TOKEN_TYPES: dict[SubjectType, str] = {
    "id_token": "urn:ietf:params:oauth:token-type:id_token",
    "access_token": "urn:ietf:params:oauth:token-type:access_token",
    "jwt": "urn:ietf:params:oauth:token-type:jwt",
}


def subject_type(name: str) -> SubjectType:
    """A --subject-token-type value as the SubjectType it names."""
    for known in SUBJECT_TOKEN_TYPES:
        if known == name:
            return known
    raise ValueError(f"unknown subject token type {name!r}")


def _error_text(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    from faasauth.http import first_line

    description = body.get("error_description")
    text = f"{body['error']}: {description}" if description else body["error"]
    return first_line(text, limit=300)  # one line, whatever the server sent


def request_function_token(
    rt: Runtime, subject_token: str, subject_type: SubjectType, audiences: list[str]
) -> FunctionToken:
    """One POST to the gateway's token endpoint; errors become faasauth errors."""
    import httpx

    from faasauth.http import summarise_body, transport_failure
    from faasauth.tokens.jwt import redact_tokens

    url = f"{rt.settings.gateway}/oauth/token"
    form: dict[str, Any] = {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": SUBJECT_TOKEN_TYPES[subject_type],
        "scope": "function",
    }
    if audiences:
        form["audience"] = sorted(set(audiences))  # httpx sends a list as repeated fields
    sent_at = rt.now()
    try:
        response = rt.client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise transport_failure(exc, "token exchange", rt.settings) from exc

    try:
        body: Any = response.json()
    except ValueError:
        body = None

    if response.status_code >= 500:
        raise TransientFailure(
            f"token exchange failed: the gateway answered {response.status_code} "
            f"({summarise_body(response, subject_token)})"
        )
    if response.status_code >= 400:
        error = _error_text(body)
        if error is not None:
            raise ExchangeRefused(
                f"token exchange refused: {redact_tokens(error, subject_token)}",
                hint="check the gateway's JwtIssuer, Role and Policy for this identity",
            )
        if response.status_code in (401, 403):
            raise ExchangeRefused(
                f"token exchange refused: the gateway answered {response.status_code} "
                f"({summarise_body(response, subject_token)})"
            )
        hint = None
        if response.status_code == 404:
            hint = "does this gateway have IAM for OpenFaaS enabled? (see --gateway)"
        raise MalformedResponse(
            f"token exchange failed: the gateway answered {response.status_code} "
            f"({summarise_body(response, subject_token)})",
            hint=hint,
        )
    if response.status_code != 200 or not isinstance(body, dict):
        raise MalformedResponse(
            f"token exchange failed: unexpected answer {response.status_code} "
            f"({summarise_body(response, subject_token)})"
        )
    try:
        answer = TokenResponse.from_json(body)
    except ValueError as problem:
        raise MalformedResponse(f"token exchange failed: the answer {problem}") from None
    return FunctionToken(
        access_token=answer.access_token,
        token_type=answer.token_type,
        expires_at=expires_at(answer.expires_in, answer.access_token, sent_at),
        scope=answer.scope,
        audience=sorted(set(audiences)),
        obtained_at=sent_at,
    )
