"""The browser login: the authorization code grant (RFC 6749 4.1) with PKCE S256 (RFC 7636),
for a person at a browser on this machine, redirected back to a loopback receiver (RFC 8252).

    1. a fresh PKCE verifier, `state` and OIDC `nonce`; listen on 127.0.0.1 (loopback_redirect)
    2. the authorization URL is shown by a BrowserPrompt; where it opens a browser, the
       browser gets the receiver's one-shot start address instead (argv is public)
    3. the one valid callback: its `iss` must be the issuer's (RFC 9207) when it is sent
    4. the code is redeemed with the verifier; the ID token's nonce, iss and aud are checked
       (its signature may rest on TLS to the token endpoint: OIDC Core 3.1.3.7, item 6);
       only then do the tab and the terminal say the login is complete

Neither the code nor the verifier is ever shown, logged or put in argv.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from faasauth.errors import LoginFailed, MalformedResponse, UsageFailure
from faasauth.idp.forms import token_request
from faasauth.idp.prompts import BrowserPrompt as BrowserPrompt  # re-exported for flows.auth
from faasauth.runtime import Runtime
from faasauth.tokens.jwt import unverified_claims
from faasauth.tokens.response import TokenResponse

if TYPE_CHECKING:
    from faasauth.idp.grant_call import GrantCall
    from faasauth.idp.loopback_redirect import AuthorizationCode

GRANT_AUTHORIZATION_CODE = "authorization_code"


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(repr=False)  # a secret until the code is redeemed
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: RFC 7636 4.1
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorization_url(endpoint: str, params: dict[str, str]) -> str:
    """`endpoint` with `params` added to any query it already has (RFC 6749 3.1)."""
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def wants_consent(scope: str | None) -> bool:
    """OIDC Core 11: a refresh token (offline_access) is asked for with prompt=consent."""
    return "offline_access" in (scope or "").split()


def authorization_code(rt: Runtime, call: GrantCall) -> TokenResponse:
    """The grant's unit: a login in the browser, the code redeemed with the PKCE verifier."""
    from faasauth.idp.loopback_redirect import LoopbackRedirect

    request, endpoints = call.request, call.endpoints
    if endpoints.authorization_endpoint is None:
        raise UsageFailure(
            "the identity provider does not offer the browser login "
            "(no authorization_endpoint in its discovery document)",
            hint="use --grant device",
        )
    if call.browser is None:
        raise UsageFailure("the browser login needs a person at a browser on this machine",
                           hint="use --grant device")
    scope = request.chosen_scope
    pkce, state, nonce = Pkce.new(), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    where: dict[str, Any] = {"port": request.redirect_port, "path": request.redirect_path}
    where = {k: v for k, v in where.items() if v is not None}
    with LoopbackRedirect(state, **where, hold_page=True) as back:
        params = {
            "response_type": "code",
            "client_id": call.client.client_id,
            "redirect_uri": back.redirect_uri,
            **({"scope": scope} if scope else {}),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
            **({"prompt": "consent"} if wants_consent(scope) else {}),
        }
        url = authorization_url(endpoints.authorization_endpoint, params)
        _check_link(url, endpoints.authorization_endpoint)
        # a browser faasauth opens gets a one-shot local address, not the URL itself (its
        # argv is readable by every local user); a link the person opens is the URL
        call.browser.show(url if call.browser.unavailable else back.start_address(url),
                          back.redirect_uri)
        ok = False
        try:
            answer = back.wait(request.login_timeout)
            issuer = endpoints.issuer or request.authority
            _check_iss_parameter(answer, issuer, endpoints.iss_parameter)
            form: dict[str, Any] = {
                "grant_type": GRANT_AUTHORIZATION_CODE,
                "code": answer.code,
                "redirect_uri": back.redirect_uri,
                "code_verifier": pkce.verifier,
            }
            response = token_request(rt, endpoints.token_endpoint, form, call.client)
            check_id_token(response, issuer=issuer, client_id=call.client.client_id,
                           nonce=nonce, required="openid" in (scope or "").split())
            ok = True
        finally:  # only now do the tab and the terminal say how the login ended
            back.finish(ok)
            call.browser.close(ok)
    return response


def _check_link(url: str, endpoint: str) -> None:
    """The authorization URL is built from discovery, which checked it; checked again, as
    every link a browser is opened at (faasauth.idp.discovery.link_problem)."""
    from faasauth.idp.discovery import link_problem

    problem = link_problem(url)
    if problem is not None:
        raise MalformedResponse(
            f"login failed ({endpoint}): the identity provider's "
            f"authorization_endpoint was refused, {problem}; nothing was shown or opened",
            hint="the identity provider is misconfigured (or hostile): tell its administrator",
        )


def _check_iss_parameter(answer: AuthorizationCode, issuer: str | None, required: bool) -> None:
    """RFC 9207: an `iss` on the redirect must be the issuer we asked (a mix-up defence)."""
    if answer.iss is None:
        if required:
            raise LoginFailed(
                "the browser login came back without the issuer (iss) its identity provider "
                "promises to send; the answer was not used"
            )
        return
    if issuer is not None and answer.iss.rstrip("/") != issuer.rstrip("/"):
        from faasauth.idp.loopback_redirect import sanitize

        raise LoginFailed(
            f"the browser login came back from the issuer {sanitize(answer.iss)!r}, not "
            f"{issuer}; the answer was not used",
            hint="another identity provider answered this login: log in again",
        )


def check_id_token(
    response: TokenResponse, *, issuer: str | None, client_id: str, nonce: str, required: bool
) -> None:
    """OIDC Core 3.1.3.7: the ID token is for us (aud, azp), from the issuer, and for this
    login (nonce). Its signature is not checked: it came straight from the token endpoint."""
    if response.id_token is None:
        if required:
            raise MalformedResponse(
                "login failed: the token endpoint sent no id_token for the scope openid"
            )
        return
    claims = unverified_claims(response.id_token)
    if not claims:
        raise MalformedResponse("login failed: the id_token is not a readable JWT")
    problem = None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if issuer is not None and str(claims.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
        problem = f"its issuer is not {issuer}"
    elif client_id not in audiences:
        problem = f"it was not issued to the client {client_id}"
    elif len(audiences) > 1 and claims.get("azp") not in (None, client_id):
        problem = f"its authorized party is not the client {client_id}"
    elif not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
        claims["nonce"].encode("utf-8"), nonce.encode("utf-8")
    ):
        problem = "its nonce does not match this login's"
    if problem:
        raise LoginFailed(f"login failed: the identity provider's id_token was refused: {problem}")
