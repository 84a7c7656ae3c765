"""The gateway's token exchange (RFC 8693) at `<gateway>/oauth/token`: one request, its
answer a FunctionToken (scope=function) or an OpenFaaS API token (no scope), or a faasauth
error. Caching is faasauth.flows.exchange's."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def error_text(body: Any, *secrets: str | None) -> str | None:
    """An OAuth error answer as one line, `secrets` (what the request carried) redacted
    before it is cut to length, so that no part of one is left at the cut."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    from faasauth.http import first_line

    description = body.get("error_description")
    text = f"{body['error']}: {description}" if description else body["error"]
    return first_line(text, limit=300, secrets=secrets)  # one line, whatever the server sent


def exchange(
    rt: Runtime,
    subject_token: str,
    *,
    subject_type: SubjectType = "id_token",
    scope: str | None = "function",
    audiences: list[str] | None = None,
    what: str = "token exchange",
) -> tuple[TokenResponse, float]:
    """One POST to the gateway's /oauth/token: its checked answer and when it was sent.

    `scope="function"` asks for a function token; `scope=None` for an OpenFaaS API token
    (what `faas-cli pro auth` keeps). Every failure becomes a faasauth error."""
    import httpx

    from faasauth.http import fetch, summarise_body, transport_failure
    from faasauth.tokens.jwt import redact_tokens

    url = f"{rt.settings.gateway}/oauth/token"
    form: dict[str, Any] = {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": SUBJECT_TOKEN_TYPES[subject_type],
    }
    if scope:
        form["scope"] = scope
    if audiences:
        form["audience"] = sorted(set(audiences))  # httpx sends a list as repeated fields
    _warn_plain_http(rt, url)
    sent_at = rt.now()
    try:
        response = fetch(rt.client, "POST", url, data=form,
                         headers={"Accept": "application/json"}, what=what, timeout=rt.settings.timeout)
    except httpx.HTTPError as exc:
        raise transport_failure(exc, what, rt.settings) from exc

    try:
        body: Any = response.json()
    except ValueError:
        body = None

    status = response.status_code
    if status >= 500:
        raise TransientFailure(
            f"{what} failed: the gateway answered {status} "
            f"({summarise_body(response, subject_token)})"
        )
    if status >= 400:
        error = error_text(body, subject_token)
        if error is not None or status in (401, 403):
            said = error or (
                f"the gateway answered {status} ({summarise_body(response, subject_token)})"
            )
            raise ExchangeRefused(
                f"{what} refused: {redact_tokens(said, subject_token)}",
                hint="check the gateway's JwtIssuer, Role and Policy for this identity"
                if error is not None else None,
            )
        hint = None
        if status == 404:
            hint = "does this gateway have IAM for OpenFaaS enabled? (see --gateway)"
        raise MalformedResponse(
            f"{what} failed: the gateway answered {status} "
            f"({summarise_body(response, subject_token)})",
            hint=hint,
        )
    if status != 200 or not isinstance(body, dict):
        raise MalformedResponse(
            f"{what} failed: unexpected answer {status} "
            f"({summarise_body(response, subject_token)})"
        )
    try:
        return TokenResponse.from_json(body), sent_at
    except ValueError as problem:
        raise MalformedResponse(f"{what} failed: the answer {problem}") from None


def request_function_token(
    rt: Runtime, subject_token: str, subject_type: SubjectType, audiences: list[str]
) -> FunctionToken:
    """A function token for `audiences` (none: every function the identity may invoke)."""
    answer, sent_at = exchange(rt, subject_token, subject_type=subject_type, audiences=audiences)
    return FunctionToken(
        access_token=answer.access_token,
        token_type=answer.token_type,
        expires_at=expires_at(answer.expires_in, answer.access_token, sent_at),
        scope=answer.scope,
        audience=sorted(set(audiences)),
        obtained_at=sent_at,
    )


@dataclass(frozen=True)
class ApiToken:
    """An OpenFaaS API token: faas-cli's `auth: oauth2` token, itself a subject token."""

    access_token: str = field(repr=False)
    expires_at: float | None
    issued_token_type: str | None


def request_api_token(rt: Runtime, subject_token: str) -> ApiToken:
    """An OpenFaaS API token for `subject_token` (/oauth/token without `scope=function`)."""
    answer, sent_at = exchange(rt, subject_token, scope=None, what="API token exchange")
    return ApiToken(
        answer.access_token,
        expires_at(answer.expires_in, answer.access_token, sent_at),
        answer.issued_token_type,
    )


def _warn_plain_http(rt: Runtime, url: str) -> None:
    """The subject token (an IdP token, more powerful than a function token) in clear."""
    from urllib.parse import urlsplit

    from faasauth.http import is_loopback

    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        rt.warn_once(
            "plain-http-exchange",
            f"sending your identity token to {parts.hostname} over plain http; use https",
        )

