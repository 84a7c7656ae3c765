"""Talking to the identity provider: discovery, client authentication, the token endpoint."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from faasauth.runtime import Runtime
from faasauth.errors import LoginFailed, MalformedResponse, TransientFailure, UsageFailure
from faasauth.tokens.jwt import redact_tokens

if TYPE_CHECKING:
    import httpx

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_REFRESH_TOKEN = "refresh_token"


@dataclass(frozen=True)
class ProviderEndpoints:
    token_endpoint: str
    device_endpoint: str | None = None
    auth_methods: tuple[str, ...] = ()  # empty: the provider did not say

    def client_auth_method(self, has_secret: bool) -> str:
        if not has_secret:
            return "none"
        # Basic is the RFC 6749 default; the body only when the provider rules Basic out.
        if self.auth_methods and "client_secret_basic" not in self.auth_methods:
            if "client_secret_post" in self.auth_methods:
                return "client_secret_post"
        return "client_secret_basic"


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
            # RFC 6749 2.3.1: form-urlencode id and secret before Basic encoding them.
            pair = f"{quote_plus(self.client_id, safe='')}:{quote_plus(self.secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()


@dataclass(frozen=True)
class OAuthError:
    """An error answer of a token endpoint, kept for callers that branch on it (polling)."""

    status: int
    error: str
    description: str | None

    def message(self) -> str:
        text = f"{self.error}: {self.description}" if self.description else self.error
        return redact_tokens(text)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _get(rt: Runtime, url: str, what: str) -> httpx.Response:
    import httpx

    from faasauth.http import transport_failure

    try:
        return rt.client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise transport_failure(exc, what, rt.settings) from exc


def discover(rt: Runtime, authority: str) -> dict[str, Any]:
    from faasauth.http import summarise_body

    url = authority.rstrip("/") + "/.well-known/openid-configuration"
    response = _get(rt, url, "OIDC discovery")
    document = _json_or_none(response)
    if response.status_code != 200 or not isinstance(document, dict):
        raise MalformedResponse(
            f"OIDC discovery failed: {url} answered {response.status_code} "
            f"({summarise_body(response)})",
            hint="check --authority, or pass --token-url (and --device-url) for a provider "
            "without discovery",
        )
    return document


def resolve_endpoints(
    rt: Runtime,
    authority: str | None,
    *,
    token_url: str | None,
    device_url: str | None,
    need_device: bool,
) -> ProviderEndpoints:
    """Endpoints from discovery, each overridable; discovery is skipped when not needed."""
    if token_url and (device_url or not need_device):
        return ProviderEndpoints(token_url, device_url)
    if not authority:
        raise UsageFailure(
            "no identity provider given: pass --authority ISSUER_URL (or FAASAUTH_AUTHORITY)"
        )
    document = discover(rt, authority)
    token_endpoint = token_url or document.get("token_endpoint")
    if not isinstance(token_endpoint, str) or not token_endpoint:
        raise MalformedResponse(
            f"the discovery document of {authority} has no token_endpoint",
            hint="pass --token-url",
        )
    device_endpoint = device_url or document.get("device_authorization_endpoint")
    if not isinstance(device_endpoint, str) or not device_endpoint:
        device_endpoint = None  # null, "" or junk: the provider does not offer it
    if need_device and device_endpoint is None:
        raise UsageFailure(
            f"the identity provider {authority} does not offer the device grant "
            "(no device_authorization_endpoint in its discovery document)",
            hint="use --grant client_credentials with a client secret, or pass --device-url",
        )
    methods = document.get("token_endpoint_auth_methods_supported")
    return ProviderEndpoints(
        token_endpoint,
        device_endpoint,
        tuple(m for m in methods if isinstance(m, str)) if isinstance(methods, list) else (),
    )


def post_form(
    rt: Runtime, url: str, form: dict[str, Any], client: Client, what: str
) -> dict[str, Any] | OAuthError:
    """POST to an IdP endpoint: the JSON answer, an OAuthError for a JSON 4xx error,
    and faasauth errors for everything else (exit 3: not an answer we can use)."""
    import httpx

    from faasauth.http import SECRET_FIELDS, summarise_body, transport_failure

    headers = {"Accept": "application/json"}
    client.apply(form, headers)
    # What this request carried that must not come back in a message: servers do echo
    # device codes, refresh tokens and even secrets in their error descriptions.
    sent = (client.secret, *(str(v) for k, v in form.items() if k in SECRET_FIELDS))
    try:
        response = rt.client.post(url, data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise transport_failure(exc, what, rt.settings) from exc
    body = _json_or_none(response)
    if response.status_code >= 500:
        raise TransientFailure(
            f"{what} failed: the identity provider answered {response.status_code} "
            f"({summarise_body(response, *sent)})"
        )
    if isinstance(body, dict) and 400 <= response.status_code < 500 and isinstance(
        body.get("error"), str
    ):
        description = body.get("error_description")
        return OAuthError(
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


def token_request(
    rt: Runtime, endpoint: str, form: dict[str, Any], client: Client
) -> dict[str, Any]:
    """A token endpoint call that must succeed: OAuth errors become LoginFailed (exit 4)."""
    result = post_form(rt, endpoint, form, client, "login")
    if isinstance(result, OAuthError):
        raise LoginFailed(f"login failed: {result.message()}")
    if not isinstance(result.get("access_token"), str) or not result["access_token"]:
        raise MalformedResponse("login failed: the token endpoint's answer has no access_token")
    return result
