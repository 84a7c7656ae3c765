"""The one way faasauth talks to an identity provider's endpoints: a form POST whose
answer is a checked TokenResponse, a TokenError, or a faasauth error (exit 3)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from faasauth.errors import LoginFailed, MalformedResponse, TransientFailure
from faasauth.runtime import Runtime
from faasauth.tokens.jwt import redact_tokens
from faasauth.tokens.response import TokenError, TokenResponse

if TYPE_CHECKING:
    import httpx

    from faasauth.http import Answer

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_REFRESH_TOKEN = "refresh_token"


@dataclass(frozen=True)
class Client:
    """An OAuth client; `secret` is None for a public client. Never stored, never logged."""

    client_id: str
    secret: str | None = None
    auth_method: str = "client_secret_basic"

    def __repr__(self) -> str:  # keep the secret out of any accidental print
        return f"Client(client_id={self.client_id!r}, auth_method={self.auth_method!r})"

    def apply(self, form: dict[str, Any], headers: dict[str, str]) -> None:
        if self.secret is None:
            form["client_id"] = self.client_id
        elif self.auth_method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.secret
        else:
            headers["Authorization"] = "Basic " + self.basic_credentials()

    def basic_credentials(self) -> str:
        """RFC 6749 2.3.1: id and secret form-urlencoded, then Basic (base64) encoded."""
        pair = f"{quote_plus(self.client_id, safe='')}:{quote_plus(self.secret or '', safe='')}"
        return base64.b64encode(pair.encode()).decode()


def json_or_none(response: httpx.Response | Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def post_form(
    rt: Runtime, url: str, form: dict[str, Any], client: Client, what: str
) -> dict[str, Any] | TokenError:
    """POST to an IdP endpoint: the JSON answer, an TokenError for a JSON 4xx error,
    and faasauth errors for everything else (exit 3: not an answer we can use)."""
    import httpx

    from faasauth.http import fetch, summarise_body, transport_failure
    from faasauth.tokens.redact import SECRET_FIELDS, sent_secrets

    headers = {"Accept": "application/json"}
    client.apply(form, headers)
    # What this request carried that must not come back in a message: servers do echo
    # device codes, refresh tokens and even secrets in their error descriptions.
    sent = (
        client.secret,
        *sent_secrets(headers.items()),  # the Basic value, and what it holds decoded
        *(str(v) for k, v in form.items() if k in SECRET_FIELDS),
    )
    try:
        response = fetch(rt.client, "POST", url, data=form, headers=headers, what=what,
                         timeout=rt.settings.timeout)
    except httpx.HTTPError as exc:
        raise transport_failure(exc, what, rt.settings) from exc
    body = json_or_none(response)
    if response.status_code >= 500:
        raise TransientFailure(
            f"{what} failed: the identity provider answered {response.status_code} "
            f"({summarise_body(response, *sent)})"
        )
    if isinstance(body, dict) and 400 <= response.status_code < 500 and isinstance(
        body.get("error"), str
    ):
        description = body.get("error_description")
        return TokenError(
            response.status_code,
            redact_tokens(body["error"], *sent),
            redact_tokens(description, *sent) if isinstance(description, str) else None,
        )
    if response.status_code != 200 or not isinstance(body, dict):
        raise MalformedResponse(
            f"{what} failed: the identity provider answered {response.status_code} "
            f"({summarise_body(response, *sent)})"
        )
    return body


def post_token(
    rt: Runtime, url: str, form: dict[str, Any], client: Client, what: str
) -> TokenResponse | TokenError:
    """POST to a token endpoint: its answer checked once (a TokenResponse), or its error."""
    result = post_form(rt, url, form, client, what)
    if isinstance(result, TokenError):
        return result
    try:
        return TokenResponse.from_json(result)
    except ValueError as problem:
        raise MalformedResponse(f"{what} failed: the token endpoint's answer {problem}") from None


def token_request(
    rt: Runtime, endpoint: str, form: dict[str, Any], client: Client, what: str = "login"
) -> TokenResponse:
    """A token endpoint call that must succeed: OAuth errors become LoginFailed (exit 4)."""
    result = post_token(rt, endpoint, form, client, what)
    if isinstance(result, TokenError):
        raise LoginFailed(f"{what} failed: {result.message()}")
    return result
