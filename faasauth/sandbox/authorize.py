"""The authorization code grant's server side (RFC 6749 4.1, PKCE RFC 7636) and its login page.

GET /authorize checks the request the way a real provider does. A request that names no known
client or no registered redirect URI gets an error page and is never redirected; every other
problem goes back to the redirect URI as `error=...` (`invalid_request` for a missing or
non-S256 `code_challenge`: PKCE S256 is required of every client). A good request shows a
small login and consent page (the device approval page's look), or, with auto-approve, goes
straight back with a code. POST /authorize approves or denies: a 303 to the redirect URI with
`code`, `state` and `iss` (RFC 9207), or `error=access_denied`.

Registered redirect URIs are `http://127.0.0.1:31111/oauth/callback` (faas-cli's default) and
`http://localhost:31111/oauth/callback`; as RFC 8252 7.3 asks, a loopback redirect matches on
any port (the same host, path and query). Codes live `ttl` seconds, are single-use (a second
redemption also revokes the refresh token the first one got, RFC 6749 4.1.2) and are bound to
the client, the redirect URI and the PKCE challenge. No page ever shows a code or a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from faasauth.sandbox.device import DEFAULT_LOGIN, html_page
from faasauth.sandbox.oauth import Client, OAuthError
from faasauth.sandbox.server import Request, Response

AUTHORIZATION_CODE = "authorization_code"
REDIRECT_URIS = (
    "http://127.0.0.1:31111/oauth/callback",
    "http://localhost:31111/oauth/callback",
)
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost")
PKCE_VALUE = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 4.1
REQUEST_TTL = 600.0  # seconds the login page stays good for


def loopback_match(registered: str, presented: str) -> bool:
    """Exact match, except that a loopback http redirect matches on any port (RFC 8252 7.3)."""
    if presented == registered:
        return True
    want, got = urlsplit(registered), urlsplit(presented)
    try:
        want.port, got.port  # noqa: B018 (a malformed port raises)
    except ValueError:
        return False
    return (
        want.scheme == got.scheme == "http"
        and "@" not in got.netloc
        and _host(want.netloc) in LOOPBACK_HOSTS
        and _host(want.netloc) == _host(got.netloc)
        and (want.path, want.query, want.fragment) == (got.path, got.query, got.fragment)
    )


def _host(netloc: str) -> str:
    """The host part of `netloc` as written (an IPv6 literal keeps its brackets)."""
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    return netloc.rpartition(":")[0] if ":" in netloc else netloc


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    expires_at: float


@dataclass
class IssuedCode:
    request: AuthorizationRequest
    login: str
    expires_at: float
    used: bool = False
    refresh_token: str | None = field(default=None, repr=False)  # revoked if the code is presented again


class CodeReused(OAuthError):
    """A code presented twice: the refresh token the first redemption got must be revoked."""

    def __init__(self, refresh_token: str | None) -> None:
        super().__init__("invalid_grant", "authorization code was already used")
        self.refresh_token = refresh_token


class _Refusal(Exception):
    """The authorization request is bad: a page on the IdP (no usable redirect) or a redirect."""

    def __init__(self, error: str, description: str, redirect: AuthorizationRequest | None):
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect = redirect


class AuthorizationCodes:
    def __init__(
        self,
        *,
        issuer: str,
        clients: Mapping[str, Client],
        clock: Callable[[], float],
        ttl: float,
        auto_approve: bool,
        redirect_uris: tuple[str, ...] = REDIRECT_URIS,
    ) -> None:
        self.issuer = issuer
        self.clients = clients
        self._clock = clock
        self.ttl = ttl
        self.auto_approve = auto_approve
        self.redirect_uris = redirect_uris
        self._requests: dict[str, AuthorizationRequest] = {}
        self._codes: dict[str, IssuedCode] = {}
        self._lock = threading.Lock()

    # -- GET and POST /authorize ------------------------------------------------------

    def page(self, request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            return self._show(request)
        if request.method == "POST":
            return self._decide(request)
        return Response(
            405,
            [("Allow", "GET, POST"), ("Content-Type", "text/plain; charset=utf-8")],
            b"use GET or POST\n",
        )

    def _show(self, request: Request) -> Response:
        try:
            pending = self._check(parse_qs(request.query, keep_blank_values=True))
        except _Refusal as refusal:
            if refusal.redirect is None:
                return _page(400, f"<p><strong>{html.escape(refusal.description)}</strong>"
                                      "</p><p>Nothing was sent back to the application.</p>")
            return self._back(refusal.redirect, error=refusal.error,
                              error_description=refusal.description)
        if self.auto_approve:
            return self._back(pending, code=self._issue(pending, DEFAULT_LOGIN))
        request_id = secrets.token_urlsafe(24)
        with self._lock:
            self._requests[request_id] = pending
        return _page(200, _login_form(request_id, pending))

    def _check(self, query: dict[str, list[str]]) -> AuthorizationRequest:
        for name, values in query.items():
            if len(values) > 1:
                # RFC 6749 3.1: no parameter twice; we cannot trust which redirect_uri is meant
                raise _Refusal("invalid_request", f"parameter {name} is repeated", None)
        one = {k: v[0] for k, v in query.items()}
        client = self.clients.get(one.get("client_id", ""))
        if client is None:
            raise _Refusal("invalid_client", "Unknown client_id.", None)
        redirect_uri = one.get("redirect_uri", "")
        if not any(loopback_match(r, redirect_uri) for r in self.redirect_uris):
            raise _Refusal(
                "invalid_request", "redirect_uri is missing or not registered for this client.",
                None,
            )
        pending = AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=one.get("scope", ""),
            state=one.get("state"),
            nonce=one.get("nonce"),
            code_challenge=one.get("code_challenge", ""),
            expires_at=self._clock() + REQUEST_TTL,
        )
        if one.get("response_type") != "code":
            raise _Refusal("unsupported_response_type", "only response_type=code", pending)
        if AUTHORIZATION_CODE not in client.grants:
            raise _Refusal("unauthorized_client", "this client may not use the code flow", pending)
        if one.get("response_mode", "query") != "query":
            raise _Refusal("invalid_request", "only response_mode=query is supported", pending)
        if not pending.code_challenge:
            raise _Refusal(
                "invalid_request", "PKCE is required: send code_challenge (S256)", pending
            )
        if one.get("code_challenge_method") != "S256":
            raise _Refusal("invalid_request", "code_challenge_method must be S256", pending)
        if not PKCE_VALUE.fullmatch(pending.code_challenge):
            raise _Refusal("invalid_request", "code_challenge is malformed", pending)
        if one.get("prompt") == "none":  # the sandbox keeps no session: there is no one to ask
            raise _Refusal("login_required", "the sandbox keeps no login session", pending)
        return pending

    def _decide(self, request: Request) -> Response:
        fields = parse_qs(
            request.body.read(64 * 1024).decode("utf-8", "replace"), keep_blank_values=True
        )
        request_id = (fields.get("request") or [""])[0]
        login = (fields.get("login") or [""])[0].strip() or DEFAULT_LOGIN
        action = (fields.get("action") or [""])[0]
        if action not in ("approve", "deny") or len(login) > 64 or not login.isprintable():
            return _page(
                400, "<p>Bad request: action must be approve or deny, and the login a short "
                "name.</p>"
            )
        with self._lock:
            pending = self._requests.pop(request_id, None)
        if pending is None or self._clock() >= pending.expires_at:
            return _page(
                400, "<p><strong>This login request is unknown, expired or already answered."
                "</strong></p><p>Start the login again from the application.</p>"
            )
        if action == "deny":
            return self._back(
                pending, error="access_denied", error_description="the user denied the request"
            )
        return self._back(pending, code=self._issue(pending, login))

    def _back(self, pending: AuthorizationRequest, **params: str) -> Response:
        answer = dict(params)
        if pending.state is not None:
            answer["state"] = pending.state
        answer["iss"] = self.issuer
        separator = "&" if urlsplit(pending.redirect_uri).query else "?"
        return Response(
            303,
            [
                ("Location", pending.redirect_uri + separator + urlencode(answer)),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
                ("Content-Type", "text/plain; charset=utf-8"),
            ],
            b"",
        )

    def _issue(self, pending: AuthorizationRequest, login: str) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = IssuedCode(pending, login, self._clock() + self.ttl)
        return code

    # -- the token endpoint's part ----------------------------------------------------

    def redeem(
        self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> IssuedCode:
        """The issued code, now used; OAuthError (invalid_grant, ...) for every other case."""
        with self._lock:
            issued = self._codes.get(code)
            if issued is None or issued.request.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown authorization code")
            if issued.used:
                raise CodeReused(issued.refresh_token)
            issued.used = True  # one attempt per code, whatever its outcome
            if self._clock() >= issued.expires_at:
                raise OAuthError("invalid_grant", "authorization code has expired")
        if redirect_uri != issued.request.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        if not verifier or not PKCE_VALUE.fullmatch(verifier):
            raise OAuthError(
                "invalid_grant", "PKCE verification failed: code_verifier missing or malformed"
            )
        if not hmac.compare_digest(s256(verifier), issued.request.code_challenge):
            raise OAuthError("invalid_grant", "PKCE verification failed")
        return issued


_FORM = """<p><strong>{client}</strong> asks to sign you in{scope}.
It will get the answer at <code>{where}</code>.</p>
<form method="post" action="/authorize">
<input type="hidden" name="request" value="{request_id}">
<label>Sign in as <input name="login" value="{login}" required></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>"""


def _page(status: int, body: str) -> Response:
    return html_page(status, body, "login")


def _login_form(request_id: str, pending: AuthorizationRequest) -> str:
    target = urlsplit(pending.redirect_uri)
    scope = f" with scope <code>{html.escape(pending.scope)}</code>" if pending.scope else ""
    return _FORM.format(
        client=html.escape(pending.client_id),
        scope=scope,
        where=html.escape(f"{target.scheme}://{target.netloc}{target.path}"),
        request_id=html.escape(request_id),
        login=html.escape(DEFAULT_LOGIN),
    )
