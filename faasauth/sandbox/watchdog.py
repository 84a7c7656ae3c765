"""The function side: the watchdog's JWT middleware (faas-middleware) for `jwt_auth=true`.

Two behaviours, both read from faas-middleware's public source:

`released` (default): faas-middleware v1.2.x, the version of-watchdog vendors, and what
/work/shared/openfaas-facts.md describes. `Bearer ` is stripped case-sensitively; a token
that fails answers `failed to parse JWT token: <golang-jwt error>`; permissions match as
an UNANCHORED regular expression with `*` as the wildcard, so `dev:env` also allows
`dev:env2`.

`hardened`: faas-middleware's main branch after its hardening (not in a watchdog release
when read): the scheme is matched case-insensitively and the rest trimmed, any other scheme
counts as no bearer, the body is only `failed to verify JWT token` (the reason is logged, the
token never echoed), the pattern is anchored (`^...$`), and only asymmetric algorithms whose
family matches the key are accepted.

Keys: both read the gateway's JWKS once, at start (`Watchdog.keys`). After a gateway key
rotation (`Sandbox.rotate_gateway_key`) a `released` watchdog keeps what it read, as
of-watchdog 0.11.6 does: new tokens fail with `invalid kid: <kid>` until the function restarts
(`Sandbox.restart_watchdogs`); a `hardened` one follows the gateway's new key at once.

Claims: `exp` and `nbf` are checked with a 1 s leeway when present; a token without `exp`, or
with `iat` in the future, passes (golang-jwt v5 validates neither by default), as the real
watchdog answers.

Answers are byte for byte those of Go's `http.Error` (canonical header names, nosniff, the
message plus a newline), which the gateway passes through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from faasauth.sandbox import gojwt
from faasauth.sandbox.server import Response

REALM = "IAM function invoke"
RELEASED = "released"
HARDENED = "hardened"
MODES = (RELEASED, HARDENED)
_HARDENED_METHODS = frozenset(
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
)


def go_error(status: int, message: str, *, challenge: bool) -> Response:
    """Go's http.Error after faas-middleware set its headers (sorted, canonical names)."""
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    if challenge:
        headers.append(("Www-Authenticate", f"Bearer realm={REALM}"))
    headers += [("X-Content-Type-Options", "nosniff"), ("X-Openfaas-Internal", "faas-middleware")]
    return Response(status, headers, (message + "\n").encode("utf-8"))


def unauthorized(message: str) -> Response:
    return go_error(401, message, challenge=True)


def forbidden() -> Response:
    return go_error(403, "insufficient permissions", challenge=False)


def wildcard_pattern(pattern: str, *, anchored: bool) -> re.Pattern[str]:
    body = ".*".join(re.escape(literal) for literal in pattern.split("*"))
    return re.compile(f"^{body}$" if anchored else body)


def match_resource(resources: list[str], ref: str, *, required: bool, anchored: bool) -> bool:
    """faas-middleware's matchResource: an empty optional list matches; `*` alone matches all."""
    if not required and not resources:
        return True
    for resource in resources:
        if resource == "*":
            return True
        if resource and wildcard_pattern(resource, anchored=anchored).search(ref):
            return True
    return False


def is_authorized(claims: Mapping[str, Any], namespace: str, name: str, *, anchored: bool) -> bool:
    function = claims.get("function") or {}
    ref = f"{namespace}:{name}"
    return match_resource(
        list(function.get("audience") or []), ref, required=False, anchored=anchored
    ) and match_resource(
        list(function.get("permissions") or []), ref, required=True, anchored=anchored
    )


@dataclass
class Decision:
    """Either `denial` (the response to send) or the verified `claims`; `reason` is for logs."""

    denial: Response | None = None
    claims: dict[str, Any] | None = None
    reason: str = ""


class Watchdog:
    """The middleware of one gateway: its issuer and its JWKS, fetched once, like the real one."""

    def __init__(
        self,
        *,
        issuer: str,
        keys: Mapping[str, Any],
        mode: str = RELEASED,
        clock: Callable[[], float],
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"watchdog mode must be one of {', '.join(MODES)}")
        self.issuer = issuer
        self.keys = dict(keys)  # kid -> public key
        self.mode = mode
        self.clock = clock

    def authorize(self, authorization: str | None, namespace: str, name: str) -> Decision:
        bearer = self._bearer(authorization or "")
        if bearer == "":
            return Decision(
                unauthorized("Bearer must be present in Authorization header"), reason="no bearer"
            )
        hardened = self.mode == HARDENED
        try:
            claims = gojwt.parse_with_claims(
                bearer,
                self._key_func,
                issuer=self.issuer,
                now=self.clock(),
                leeway=1.0,
                valid_methods=_HARDENED_METHODS if hardened else None,
            )
        except gojwt.GoError as exc:
            message = (
                "failed to verify JWT token" if hardened else f"failed to parse JWT token: {exc}"
            )
            return Decision(unauthorized(message), reason=str(exc))
        if not is_authorized(claims, namespace, name, anchored=hardened):
            return Decision(forbidden(), claims=claims, reason="insufficient permissions")
        return Decision(claims=claims)

    def _bearer(self, value: str) -> str:
        if self.mode == HARDENED:
            if len(value) > 7 and value[:7].lower() == "bearer ":
                return value[7:].strip()
            return ""
        return value[7:] if value.startswith("Bearer ") else value

    def _key_func(self, header: Mapping[str, Any]) -> Any:
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise gojwt.GoError(
                f"invalid kid{'' if self.mode == HARDENED else ': ' + gojwt.go_value(kid)}"
            )
        key = self.keys.get(kid)
        if key is None:
            raise gojwt.GoError(f"invalid kid: {kid}")
        if self.mode == HARDENED:
            _check_key_type(str(header.get("alg")), key)
        return key


def _check_key_type(alg: str, key: Any) -> None:
    kty = (
        "RSA"
        if isinstance(key, rsa.RSAPublicKey)
        else "EC"
        if isinstance(key, ec.EllipticCurvePublicKey)
        else "OKP"
        if isinstance(key, ed25519.Ed25519PublicKey)
        else "oct"
    )
    family = (
        "RSA"
        if alg[:2] in ("RS", "PS")
        else "EC"
        if alg.startswith("ES")
        else "OKP"
        if alg == "EdDSA"
        else ""
    )
    if family != kty:
        raise gojwt.GoError(f"signing method {alg} does not match key type {kty}")
