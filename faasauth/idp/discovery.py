"""OpenID Connect discovery: the provider's endpoints, each overridable by a flag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faasauth.errors import MalformedResponse, UsageFailure
from faasauth.idp.forms import json_or_none
from faasauth.runtime import Runtime

if TYPE_CHECKING:
    from faasauth.http import Answer


@dataclass(frozen=True)
class ProviderEndpoints:
    token_endpoint: str
    device_endpoint: str | None = None
    auth_methods: tuple[str, ...] = ()  # empty: the provider did not say
    # the browser login's (authorization code with PKCE): None without discovery
    authorization_endpoint: str | None = None
    issuer: str | None = None
    pkce_methods: tuple[str, ...] = ()  # code_challenge_methods_supported; empty: not said
    iss_parameter: bool = False  # authorization_response_iss_parameter_supported (RFC 9207)

    @property
    def offers_browser_login(self) -> bool:
        """An authorization endpoint, and S256 among the PKCE methods when it lists them."""
        return self.authorization_endpoint is not None and (
            not self.pkce_methods or "S256" in self.pkce_methods
        )

    def client_auth_method(self, has_secret: bool) -> str:
        if not has_secret:
            return "none"
        # Basic is the RFC 6749 default; the body only when the provider rules Basic out.
        if self.auth_methods and "client_secret_basic" not in self.auth_methods:
            if "client_secret_post" in self.auth_methods:
                return "client_secret_post"
        return "client_secret_basic"


def _get(rt: Runtime, url: str, what: str) -> Answer:
    import httpx

    from faasauth.http import fetch, transport_failure

    try:
        return fetch(rt.client, "GET", url, headers={"Accept": "application/json"}, what=what,
                     timeout=rt.settings.timeout)
    except httpx.HTTPError as exc:
        raise transport_failure(exc, what, rt.settings) from exc


def discover(rt: Runtime, authority: str) -> dict[str, Any]:
    from faasauth.http import summarise_body

    url = authority.rstrip("/") + "/.well-known/openid-configuration"
    response = _get(rt, url, "OIDC discovery")
    document = json_or_none(response)
    if response.status_code != 200 or not isinstance(document, dict):
        hint = ("check --authority, or pass --token-url (and --device-url) for a provider "
                "without discovery")
        if authority.rstrip("/") == rt.settings.gateway.rstrip("/"):
            hint = ("--authority is the OpenFaaS gateway's URL: give your identity provider's "
                    "issuer URL, the one the gateway's JwtIssuer trusts")
        raise MalformedResponse(
            f"OIDC discovery failed: {url} answered {response.status_code} "
            f"({summarise_body(response)})",
            hint=hint,
        )
    return document


def resolve_endpoints(
    rt: Runtime,
    authority: str | None,
    *,
    token_url: str | None,
    device_url: str | None,
    need_device: bool,
    need_discovery: bool = False,
) -> ProviderEndpoints:
    """Endpoints from discovery, each overridable; discovery is skipped when not needed
    (the browser login always needs it: its authorization endpoint and issuer)."""
    if token_url and (device_url or not need_device) and not need_discovery:
        return ProviderEndpoints(token_url, device_url)
    if not authority:
        raise UsageFailure(
            "no identity provider given: pass --authority ISSUER_URL (or FAASAUTH_AUTHORITY)"
        )
    document = discover(rt, authority)
    _refuse_a_gateway(authority, document)
    _check_issuer(authority, document)
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
        raise no_device_grant(authority)
    for field, value in (("token_endpoint", token_endpoint),
                         ("device_authorization_endpoint", device_endpoint)):
        if value is not None and value is not token_url and value is not device_url:
            check_endpoint(authority, field, value)
    authorization_endpoint = document.get("authorization_endpoint")
    if isinstance(authorization_endpoint, str) and authorization_endpoint:
        check_endpoint(authority, "authorization_endpoint", authorization_endpoint)
    issuer = document.get("issuer")
    return ProviderEndpoints(
        token_endpoint,
        device_endpoint,
        _texts(document.get("token_endpoint_auth_methods_supported")),
        authorization_endpoint if isinstance(authorization_endpoint, str) and authorization_endpoint
        else None,
        issuer if isinstance(issuer, str) and issuer else None,
        _texts(document.get("code_challenge_methods_supported")),
        document.get("authorization_response_iss_parameter_supported") is True,
    )


def _refuse_a_gateway(authority: str, document: dict[str, Any]) -> None:
    """`--authority` pointed at the OpenFaaS gateway: its discovery document (the issuer of
    function tokens) offers token exchange and nothing a person or a client can log in with."""
    from faasauth.idp.forms import (
        GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN)

    grants = document.get("grant_types_supported")
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    logins = {GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN,
              "authorization_code"}
    if isinstance(grants, list) and exchange in grants and not logins & set(map(str, grants)):
        raise UsageFailure(
            f"{authority} is an OpenFaaS gateway (it only exchanges tokens), not an identity "
            "provider",
            hint="give --authority (or FAASAUTH_AUTHORITY) your identity provider's issuer URL, "
            "the one the gateway's JwtIssuer trusts; the gateway is -g or OPENFAAS_URL",
        )


def _check_issuer(authority: str, document: dict[str, Any]) -> None:
    """OIDC Discovery 4.3: the document's issuer must be the authority it was fetched from."""
    issuer = document.get("issuer")
    if issuer is None:
        return  # plain OAuth servers (RFC 8414 is not OIDC) may leave it out
    if not isinstance(issuer, str) or issuer.rstrip("/") != authority.rstrip("/"):
        from faasauth.tokens.jwt import redact_tokens

        shown = redact_tokens(issuer if isinstance(issuer, str) else repr(issuer))[:200]
        raise MalformedResponse(
            f"the discovery document of {authority} names another issuer ({shown}): "
            "its issuer must equal the authority (OpenID Connect Discovery 4.3)",
            hint="check --authority: it must be the issuer URL exactly",
        )


def check_endpoint(authority: str, field: str, url: str) -> None:
    """An endpoint a discovery document names: never plain http under an https authority
    (the client secret and refresh tokens would go out in clear), loopback aside."""
    from urllib.parse import urlsplit

    from faasauth.http import is_loopback

    endpoint = urlsplit(url)
    if url_shape_problem(url) is not None:
        raise MalformedResponse(
            f"the discovery document of {authority} has an invalid {field}",
            hint="pass the endpoint yourself (see faasauth auth --help)",
        )
    if (urlsplit(authority).scheme == "https" and endpoint.scheme == "http"
            and not is_loopback(endpoint.hostname or "")):
        raise MalformedResponse(
            f"the discovery document of {authority} names a plain http:// {field} "
            f"({endpoint.hostname}): refused, secrets would travel unencrypted",
            hint="fix the identity provider's configuration, or pass the https:// endpoint "
            "yourself",
        )


def url_shape_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s) URL with a host, no userinfo, no whitespace or
    control characters (the shape every endpoint and every browser link must have), or None."""
    from urllib.parse import urlsplit

    if not url.isascii() or any(ch <= " " or ch == "\x7f" for ch in url):
        return "it has whitespace, control or non-ASCII characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "it is not an https:// URL"
    if not parts.hostname:
        return "it names no host"
    if "@" in parts.netloc:
        return "it carries a user name or password"
    return None


def link_problem(url: str) -> str | None:
    """Why `url` may not be shown as a link or handed to a browser, or None: the endpoint
    shape (url_shape_problem), and https, or plain http to loopback only."""
    from urllib.parse import urlsplit

    from faasauth.http import is_loopback

    problem = url_shape_problem(url)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        return "it is plain http:// to another machine"
    return None


def no_device_grant(authority: str | None) -> UsageFailure:
    return UsageFailure(
        f"the identity provider {authority} does not offer the device grant "
        "(no device_authorization_endpoint in its discovery document)",
        hint="use --grant client_credentials with a client secret, or pass --device-url",
    )


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


