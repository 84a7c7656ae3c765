"""The gateway's token exchange (`POST /oauth/token`, RFC 8693), as the OpenFaaS docs describe.

A subject token is accepted when it verifies (signature, expiry with 1 s leeway, `aud` among
the JwtIssuer's `aud` when that list is non-empty) against a registered JwtIssuer (its JWKS
found by OpenID discovery; the sandbox IdP's key is known in-process), or is an OpenFaaS API
token this gateway issued. Its policies come from the Roles its claims match (for an API
token: its `policy` claim). Then:

- `scope=function`: a function token, `{"access_token", "token_type": "Bearer", "expires_in",
  "scope": "function"}`; claims iss = gateway URL, aud = [iss], sub = `fed:<sub>`, iat, exp,
  `function.permissions` (the union of the Function:Invoke resources, possibly empty: the
  watchdog then answers 403) and `function.audience` (only when `audience` was sent; repeat
  the parameter for several functions).
- no scope: an OpenFaaS API token (`policy` claim, `fed:iss`), with `issued_token_type`.

Lifetime: the JwtIssuer's `tokenExpiry`. Errors: HTTP 400 `{"error": "invalid_request",
"error_description": ...}`, e.g. `No policies found for subject: <sub>`.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from faasauth.sandbox.gojwt import METHODS
from faasauth.sandbox.iam import DEFAULT_TOKEN_EXPIRY, IamConfig
from faasauth.sandbox.keys import SigningKey
from faasauth.sandbox.oauth import OAuthError, json_response, read_form
from faasauth.sandbox.server import Request, Response

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
SUBJECT_TOKEN_TYPES = frozenset(
    [
        ID_TOKEN,
        "urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ]
)
# The algorithms golang-jwt knows, less the symmetric ones and "none": a subject token is
# verified with its issuer's public key only.
ASYMMETRIC = sorted(m for m in METHODS if not m.startswith("HS") and m != "none")
LEEWAY = 1.0
IDENTITY_CLAIMS = ("email", "email_verified", "name", "preferred_username", "groups")


@dataclass
class Subject:
    kind: str  # "idp" or "api"
    claims: dict[str, Any]
    token_expiry: float


class RemoteJwks:
    """JWKS of issuers outside the sandbox, found by OpenID discovery and cached."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._cache: dict[str, jwt.PyJWKSet] = {}
        self._lock = threading.Lock()
        self.timeout = timeout

    def cached(self, iss: str) -> jwt.PyJWKSet | None:
        with self._lock:
            return self._cache.get(iss)

    def get(self, iss: str) -> jwt.PyJWKSet:
        found = self.cached(iss)
        if found is not None:
            return found
        try:
            config = self._fetch(iss.rstrip("/") + "/.well-known/openid-configuration")
            keys = jwt.PyJWKSet.from_dict(self._fetch(str(config["jwks_uri"])))
        except (OSError, ValueError, KeyError, TypeError, jwt.PyJWTError):
            raise OAuthError("invalid_request", f"JWKS missing for issuer: {iss}") from None
        with self._lock:
            self._cache[iss] = keys
        return keys

    def _fetch(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=self.timeout) as answer:  # noqa: S310 (http(s) URLs from IAM)
            return json.loads(answer.read(1024 * 1024))


class TokenExchange:
    def __init__(
        self,
        *,
        issuer: str,
        key: SigningKey,
        iam: IamConfig,
        local_issuers: Mapping[str, SigningKey],
        clock: Callable[[], float],
        remote: RemoteJwks | None = None,
    ) -> None:
        self.issuer = issuer
        self.key = key
        self.iam = iam
        self.local_issuers = dict(local_issuers)
        self.clock = clock
        self.remote = remote or RemoteJwks()

    def handle(self, request: Request) -> Response:
        kind = "none"
        try:
            form = read_form(request, repeatable=frozenset(["audience"]))
            grant_type = form.require("grant_type")
            if grant_type != TOKEN_EXCHANGE:
                raise OAuthError("unsupported_grant_type", f"unsupported grant_type: {grant_type}")
            token = form.require("subject_token")
            kind = self.classify(token)
            token_type = form.require("subject_token_type")
            if token_type not in SUBJECT_TOKEN_TYPES:
                raise OAuthError("invalid_request", f"unsupported subject_token_type: {token_type}")
            subject = self.verify_subject(token)
            audience = [a for a in form.get_all("audience") if a]
            scopes = (form.get("scope") or "").split()
            return json_response(
                200, self._issue(subject, audience, function="function" in scopes), token=kind
            )
        except OAuthError as exc:
            return exc.response(token=kind)

    # -- verification ---------------------------------------------------------------

    def verify_subject(self, token: str) -> Subject:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError(
                "invalid_request", "invalid subject_token: token is malformed"
            ) from None
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise OAuthError("invalid_request", "invalid subject_token: no iss claim")
        if iss == self.issuer:
            claims = self._verified(token, self.key.public_key, "ES256")
            if "function" in claims:
                raise OAuthError(
                    "invalid_request", "invalid subject_token: a function token cannot be exchanged"
                )
            origin = self.iam.issuer_for(str(claims.get("fed:iss", "")))
            return Subject("api", claims, origin.token_expiry if origin else DEFAULT_TOKEN_EXPIRY)
        registered = self.iam.issuer_for(iss)
        if registered is None:
            raise OAuthError("invalid_request", f"issuer not registered: {iss}")
        claims = self._verified(token, *self._issuer_key(iss, header))
        if not registered.accepts_audience(claims.get("aud")):
            raise OAuthError(
                "invalid_request",
                f"invalid subject_token: aud not accepted by JwtIssuer {registered.name}",
            )
        return Subject("idp", claims, registered.token_expiry)

    def _issuer_key(self, iss: str, header: Mapping[str, Any]) -> tuple[Any, str]:
        local = self.local_issuers.get(iss)
        if local is not None:
            return local.public_key, "ES256"
        keys = self.remote.get(iss)
        kid = header.get("kid")
        for candidate in keys.keys:
            if kid is None or candidate.key_id == kid:
                return candidate.key, str(header.get("alg"))
        raise OAuthError(
            "invalid_request", f"invalid subject_token: no key {kid} in the JWKS of {iss}"
        )

    def _verified(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        if alg not in ASYMMETRIC:
            raise OAuthError(
                "invalid_request", f"invalid subject_token: algorithm {alg} not accepted"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iss": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise OAuthError(
                "invalid_request", "invalid subject_token: signature verification failed"
            ) from None
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and self.clock() >= exp + LEEWAY:
            raise OAuthError("invalid_request", "invalid subject_token: token is expired")
        if not claims.get("sub"):
            raise OAuthError("invalid_request", "invalid subject_token: no sub claim")
        return claims

    def classify(self, token: str) -> str:
        """The log's token kind: function, api or idp when a known key verifies it, else invalid."""
        try:
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
            if not isinstance(iss, str):
                return "invalid"
            if iss == self.issuer:
                claims = self.key.verify(token, verify_exp=False)
                return "function" if "function" in claims else "api"
            local = self.local_issuers.get(iss)
            if local is not None:
                local.verify(token, verify_exp=False)
                return "idp"
            keys = self.remote.cached(iss) if self.iam.issuer_for(iss) else None
            kid = jwt.get_unverified_header(token).get("kid")
            for candidate in keys.keys if keys else []:
                if candidate.key_id == kid:
                    jwt.decode(
                        token,
                        candidate.key,
                        algorithms=ASYMMETRIC,
                        options={"verify_aud": False, "verify_exp": False},
                    )
                    return "idp"
        except (jwt.PyJWTError, AttributeError, TypeError, ValueError):
            pass
        return "invalid"

    # -- issuance -------------------------------------------------------------------

    def _issue(self, subject: Subject, audience: list[str], *, function: bool) -> dict[str, Any]:
        sub = str(subject.claims["sub"])
        if subject.kind == "api":
            policies = [p for p in subject.claims.get("policy") or [] if p in self.iam.policies]
        else:
            policies = self.iam.policies_for(subject.claims)
            sub = f"fed:{sub}"
        if not policies:
            raise OAuthError(
                "invalid_request", f"No policies found for subject: {subject.claims['sub']}"
            )
        expires_in = int(subject.token_expiry)
        if function:
            token = self.issue_function_token(
                sub, self.iam.invoke_permissions(policies), audience, expires_in
            )
            return {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": "function",
            }
        extra = {k: subject.claims[k] for k in IDENTITY_CLAIMS if k in subject.claims}
        fed_iss = subject.claims.get("fed:iss") if subject.kind == "api" else subject.claims["iss"]
        token = self.issue_api_token(sub, policies, expires_in, **{"fed:iss": fed_iss, **extra})
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "issued_token_type": ID_TOKEN,
        }

    def issue_function_token(
        self,
        sub: str,
        permissions: list[str],
        audience: list[str] | None,
        expires_in: float,
        **claims: Any,
    ) -> str:
        now = int(self.clock())
        function: dict[str, Any] = {"permissions": list(permissions)}
        if audience:
            function["audience"] = list(audience)
        body = {
            "iss": self.issuer,
            "aud": [self.issuer],
            "sub": sub,
            "iat": now,
            "exp": now + int(expires_in),
            "function": function,
        }
        body.update(claims)
        return self.key.sign(body)

    def issue_api_token(
        self, sub: str, policies: list[str], expires_in: float, **claims: Any
    ) -> str:
        now = int(self.clock())
        body = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": sub,
            "iat": now,
            "exp": now + int(expires_in),
            "jti": str(uuid.uuid4()),
            "typ": "ID",
            "policy": list(policies),
            **claims,
        }
        return self.key.sign(body)
