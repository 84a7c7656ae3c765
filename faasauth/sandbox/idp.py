"""The sandbox's OpenID provider: discovery, JWKS, device authorization, token endpoint.

Clients: one confidential client (id `faasauth-sandbox` unless changed, a random secret per
run) for client_credentials, the device grant, the code flow and refresh; one public client
(`faasauth-cli`, no secret) for the device grant, the code flow and refresh. Tokens are ES256
JWTs with real expiry:

- client_credentials: an access token with `sub` = the client id (what faasauth exchanges at
  the gateway); no id_token, no refresh token.
- device grant: an access token, an id_token (`aud` = client id, with email) when the scope
  has `openid`, and a refresh token when it has `offline_access`.
- authorization_code (sandbox/authorize.py: the /authorize page, PKCE S256 required): as the
  device grant, with the request's `nonce` in the id_token.
- refresh_token: new tokens and a NEW refresh token; the old one stops working (rotation).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faasauth.sandbox.authorize import AUTHORIZATION_CODE, AuthorizationCodes, CodeReused
from faasauth.sandbox.device import DeviceCodes, device_page
from faasauth.sandbox.keys import SigningKey, jwks
from faasauth.sandbox.oauth import Client, Form, OAuthError, authenticate, json_response, read_form
from faasauth.sandbox.server import Request, Response, text_response

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH = "refresh_token"
REALM = "faasauth sandbox"


@dataclass
class RefreshGrant:
    client_id: str
    sub: str
    login: str | None
    scope: str
    expires_at: float
    used: bool = False


class IdentityProvider:
    def __init__(
        self,
        *,
        issuer: str,
        key: SigningKey,
        client_id: str,
        client_secret: str,
        public_client_id: str,
        clock: Callable[[], float],
        token_ttl: float,
        refresh_token_ttl: float,
        device_codes: DeviceCodes,
        code_ttl: float = 60,
    ) -> None:
        self.issuer = issuer
        self.key = key
        self.clock = clock
        self.token_ttl = token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.devices = device_codes
        self.clients = {
            client_id: Client(
                client_id,
                client_secret,
                frozenset([CLIENT_CREDENTIALS, DEVICE_GRANT, AUTHORIZATION_CODE, REFRESH]),
            ),
            public_client_id: Client(
                public_client_id, None, frozenset([DEVICE_GRANT, AUTHORIZATION_CODE, REFRESH])
            ),
        }
        self.codes = AuthorizationCodes(
            issuer=issuer,
            clients=self.clients,
            clock=clock,
            ttl=code_ttl,
            auto_approve=device_codes.auto_approve,
        )
        self._refresh: dict[str, RefreshGrant] = {}
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "device_authorization_endpoint": f"{self.issuer}/device_authorization",
            "jwks_uri": f"{self.issuer}/jwks",
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "grant_types_supported": [
                CLIENT_CREDENTIALS, DEVICE_GRANT, AUTHORIZATION_CODE, REFRESH
            ],
            "scopes_supported": ["openid", "email", "profile", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "email",
                "email_verified",
                "name",
                "preferred_username",
            ],
        }

    # -- HTTP -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/.well-known/openid-configuration":
            return json_response(200, self.configuration(), no_store=False)
        if path == "/jwks":
            return json_response(200, jwks([self.key]), no_store=False)
        if path == "/device":
            return device_page(request, self.devices)
        if path == "/authorize":
            return self.codes.page(request)
        try:
            if path == "/token":
                return self._token(request)
            if path == "/device_authorization":
                return self._device_authorization(request)
        except OAuthError as exc:
            return exc.response()
        return text_response(404, "404 page not found\n")

    def _device_authorization(self, request: Request) -> Response:
        form = read_form(request)
        client = authenticate(request, form, self.clients, REALM)
        if DEVICE_GRANT not in client.grants:
            raise OAuthError(
                "unauthorized_client", f"{client.client_id} may not use the device grant"
            )
        grant = self.devices.create(client.client_id, form.get("scope") or "")
        verification_uri = f"{self.issuer}/device"
        return json_response(
            200,
            {
                "device_code": grant.device_code,
                "user_code": grant.user_code,
                "verification_uri": verification_uri,
                "verification_uri_complete": f"{verification_uri}?user_code={grant.user_code}",
                "expires_in": int(self.devices.ttl),
                "interval": int(grant.interval)
                if float(grant.interval).is_integer()
                else grant.interval,
            },
        )

    def _token(self, request: Request) -> Response:
        form = read_form(request)
        grant_type = form.require("grant_type")
        client = authenticate(request, form, self.clients, REALM)
        if grant_type not in (CLIENT_CREDENTIALS, DEVICE_GRANT, AUTHORIZATION_CODE, REFRESH):
            raise OAuthError("unsupported_grant_type", f"unsupported grant_type: {grant_type}")
        if grant_type not in client.grants:
            raise OAuthError("unauthorized_client", f"{client.client_id} may not use {grant_type}")
        if grant_type == CLIENT_CREDENTIALS:
            return json_response(200, self._client_credentials(client, form.get("scope") or ""))
        if grant_type == DEVICE_GRANT:
            device = self.devices.poll(form.require("device_code"), client.client_id)
            login = device.login or "sandbox-user"
            return json_response(
                200, self._user_tokens(client.client_id, login, login, device.scope)
            )
        if grant_type == AUTHORIZATION_CODE:
            return json_response(200, self._code_tokens(client, form))
        return json_response(200, self._refresh_tokens(client, form))

    def _code_tokens(self, client: Client, form: Form) -> dict[str, Any]:
        try:
            issued = self.codes.redeem(
                form.require("code"),
                client.client_id,
                form.get("redirect_uri"),
                form.get("code_verifier"),
            )
        except CodeReused as reused:  # RFC 6749 4.1.2: revoke what the first use got
            with self._lock:
                grant = self._refresh.get(reused.refresh_token or "")
                if grant is not None:
                    grant.used = True
            raise
        request = issued.request
        answer = self._user_tokens(
            client.client_id, issued.login, issued.login, request.scope, nonce=request.nonce
        )
        issued.refresh_token = answer.get("refresh_token")
        return answer

    # -- token issuance -------------------------------------------------------------

    def _client_credentials(self, client: Client, scope: str) -> dict[str, Any]:
        scopes = [s for s in scope.split() if s != "offline_access"]
        token = self.issue_token(
            client.client_id,
            aud=client.client_id,
            client_id=client.client_id,
            azp=client.client_id,
            scope=" ".join(scopes),
        )
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl)}
        if scopes:
            answer["scope"] = " ".join(scopes)
        return answer

    def _user_tokens(
        self, client_id: str, sub: str, login: str | None, scope: str, nonce: str | None = None
    ) -> dict[str, Any]:
        scopes = scope.split()
        answer: dict[str, Any] = {
            "access_token": self.issue_token(
                sub,
                aud=client_id,
                client_id=client_id,
                azp=client_id,
                scope=scope,
                **self.user_claims(login or sub),
            ),
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl),
        }
        if scope:
            answer["scope"] = scope
        if "openid" in scopes:
            answer["id_token"] = self.issue_token(
                sub, aud=client_id, azp=client_id, nonce=nonce, **self.user_claims(login or sub)
            )
        if "offline_access" in scopes:
            refresh_token = secrets.token_urlsafe(32)
            with self._lock:
                self._refresh[refresh_token] = RefreshGrant(
                    client_id, sub, login, scope, self.clock() + self.refresh_token_ttl
                )
            answer["refresh_token"] = refresh_token
        return answer

    def _refresh_tokens(self, client: Client, form: Form) -> dict[str, Any]:
        presented = form.require("refresh_token")
        with self._lock:
            grant = self._refresh.get(presented)
            if grant is None or grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown refresh_token")
            if grant.used:
                raise OAuthError("invalid_grant", "refresh_token was already used (tokens rotate)")
            if self.clock() >= grant.expires_at:
                raise OAuthError("invalid_grant", "refresh_token has expired")
            requested = form.get("scope")
            scope = grant.scope
            if requested is not None:
                if not set(requested.split()) <= set(grant.scope.split()):
                    raise OAuthError("invalid_scope", "scope exceeds the scope originally granted")
                scope = (
                    requested
                    if "offline_access" in requested.split()
                    else f"{requested} offline_access"
                )
            grant.used = True
        return self._user_tokens(client.client_id, grant.sub, grant.login, scope)

    @staticmethod
    def user_claims(login: str) -> dict[str, Any]:
        return {
            "email": f"{login}@example.com",
            "email_verified": True,
            "name": login,
            "preferred_username": login,
        }

    def issue_token(
        self, sub: str, *, aud: str | list[str], expires_in: float | None = None, **claims: Any
    ) -> str:
        now = int(self.clock())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "exp": now + int(self.token_ttl if expires_in is None else expires_in),
            "jti": str(uuid.uuid4()),
        }
        body.update({k: v for k, v in claims.items() if v not in (None, "")})
        return self.key.sign(body)
