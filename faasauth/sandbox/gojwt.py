"""What golang-jwt v5 says about a function token, as the watchdog's middleware uses it.

faas-middleware answers a token it cannot accept with `failed to parse JWT token: <err>`,
where <err> is golang-jwt's error string; clients see that body, so the sandbox builds the
same strings, in golang-jwt's order of checks:

    split into 3 parts       token is malformed: token contains an invalid number of segments
    base64 / JSON header     token is malformed: could not base64 decode header: illegal ...
    base64 / JSON claims     token is malformed: could not JSON decode claim: ...
    alg                      token is unverifiable: signing method (alg) is unspecified
    (valid methods)          token signature is invalid: signing method HS256 is invalid
    base64 signature         token is malformed: could not base64 decode signature: ...
    key function (kid)       token is unverifiable: error while executing keyfunc: invalid kid: x
    signature                token signature is invalid: crypto/ecdsa: verification error
    claims (all, joined \n)  token has invalid claims: token is expired

Exact for every case a client can provoke with a real token (wrong key, kid, issuer,
audience, expiry, truncation, garbage); Go's JSON decoder messages for hand-made broken JSON
are approximated.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_SIZES = {"256": 32, "384": 48, "512": 66}
METHODS = frozenset(
    [
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
        "none",
    ]
)
KeyFunc = Callable[[Mapping[str, Any]], Any]  # header -> public key; raises GoError


class GoError(Exception):
    """An error whose str() is exactly the Go error string."""


def go_value(value: Any) -> str:
    """Go's %v of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def decode_segment(segment: str) -> bytes:
    """base64.RawURLEncoding.DecodeString, with Go's error positions."""
    kept = []
    last = -1
    for index, char in enumerate(segment):
        if char in "\r\n":
            continue
        if char not in _B64:
            raise GoError(f"illegal base64 data at input byte {index}")
        kept.append(char)
        last = index
    if len(kept) % 4 == 1:
        raise GoError(f"illegal base64 data at input byte {last}")
    text = "".join(kept)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        doc = data.decode("utf-8", "replace")
        pos = getattr(exc, "pos", len(doc))
        if not doc.strip() or pos >= len(doc):
            raise GoError("unexpected end of JSON input") from None
        raise GoError(
            f"invalid character {_quote_char(doc[pos])} looking for beginning of value"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _quote_char(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    quoted = json.dumps(char)[1:-1] if not char.isprintable() else char
    return f"'{quoted}'"


def _cannot_unmarshal(value: Any, into: str) -> GoError:
    """encoding/json's UnmarshalTypeError; `into` is "Go value of type T" or a struct field."""
    return GoError(f"json: cannot unmarshal {_json_kind(value)} into {into}")


def _field(path: str, go_type: str) -> str:
    return f"Go struct field {path} of type {go_type}"


def _claims(data: bytes) -> dict[str, Any]:
    """json.Unmarshal into faas-middleware's FunctionClaims (RegisteredClaims + function)."""
    value = _json(data)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _cannot_unmarshal(value, "Go value of type auth.FunctionClaims")
    for name in ("iss", "sub", "jti"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise _cannot_unmarshal(value[name], _field(f"FunctionClaims.{name}", "string"))
    aud = value.get("aud")
    if aud is not None and not isinstance(aud, str):
        if not isinstance(aud, list) or not all(isinstance(a, str) for a in aud):
            raise GoError("invalid type for claim")
    for name in ("exp", "nbf", "iat"):
        date = value.get(name)
        if date is None or (isinstance(date, (int, float)) and not isinstance(date, bool)):
            continue
        prefix = "could not parse NumericData"
        if not isinstance(date, str):
            raise GoError(f"{prefix}: {_cannot_unmarshal(date, 'Go value of type json.Number')}")
        try:
            value[name] = float(date)  # a JSON string holding a number is a valid json.Number
        except ValueError:
            literal = json.dumps(json.dumps(date))
            raise GoError(
                f"{prefix}: json: invalid number literal, trying to unmarshal {literal} into Number"
            ) from None
    function = value.get("function")
    if function is None:
        return value
    if not isinstance(function, dict):
        raise _cannot_unmarshal(function, _field("FunctionClaims.function", "auth.AuthPermissions"))
    for name in ("permissions", "audience"):
        items = function.get(name)
        path = f"AuthPermissions.function.{name}"
        if items is not None and not isinstance(items, list):
            raise _cannot_unmarshal(items, _field(path, "[]string"))
        for item in items or []:
            if not isinstance(item, str):
                raise _cannot_unmarshal(item, _field(path, "string"))
    return value


def _verify_signature(alg: str, signing_input: bytes, signature: bytes, key: Any) -> None:
    """SigningMethod.Verify; raises GoError with the method's error string."""
    family, size = alg[:2], alg[2:]
    if alg == "none":
        raise GoError("token is unverifiable: 'none' signature type is not allowed")
    if family == "HS":
        if not isinstance(key, bytes):
            raise GoError("key is of invalid type: HMAC verify expects []byte")
        raise GoError("signature is invalid")
    if family in ("RS", "PS"):
        if not isinstance(key, rsa.RSAPublicKey):
            name = "RSA" if family == "RS" else "RSA-PSS"
            raise GoError(f"key is of invalid type: {name} verify expects *rsa.PublicKey")
        pad = (
            padding.PKCS1v15()
            if family == "RS"
            else padding.PSS(mgf=padding.MGF1(_HASHES[size]()), salt_length=padding.PSS.AUTO)
        )
        try:
            key.verify(signature, signing_input, pad, _HASHES[size]())
        except InvalidSignature:
            raise GoError("crypto/rsa: verification error") from None
        return
    if family == "ES":
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise GoError("key is of invalid type: ECDSA verify expects *ecdsa.PublicKey")
        width = _EC_SIZES[size]
        if len(signature) != 2 * width:
            raise GoError("crypto/ecdsa: verification error")
        r = int.from_bytes(signature[:width], "big")
        s = int.from_bytes(signature[width:], "big")
        try:
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_HASHES[size]()))
        except (InvalidSignature, ValueError):
            raise GoError("crypto/ecdsa: verification error") from None
        return
    if not isinstance(key, ed25519.Ed25519PublicKey):  # EdDSA
        raise GoError("key is of invalid type: ed25519 verify expects ed25519.PublicKey")
    try:
        key.verify(signature, signing_input)
    except InvalidSignature:
        raise GoError("ed25519: verification error") from None


def _validate(claims: Mapping[str, Any], *, issuer: str, now: float, leeway: float) -> None:
    """jwt.Validator with WithIssuer, WithAudience and WithLeeway; errors joined by \\n."""
    errors = []
    exp = claims.get("exp")
    if exp is not None and not now < float(exp) + leeway:
        errors.append("token is expired")
    nbf = claims.get("nbf")
    if nbf is not None and now < float(nbf) - leeway:
        errors.append("token is not valid yet")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else list(aud or [])
    if not audiences or audiences == [""]:
        errors.append("token is missing required claim: aud claim is required")
    elif issuer not in audiences:
        errors.append("token has invalid audience")
    iss = claims.get("iss") or ""
    if iss == "":
        errors.append("token is missing required claim: iss claim is required")
    elif iss != issuer:
        errors.append("token has invalid issuer")
    if errors:
        raise GoError("token has invalid claims: " + "\n".join(errors))


def parse_with_claims(
    token: str,
    key_func: KeyFunc,
    *,
    issuer: str,
    now: float,
    leeway: float = 1.0,
    valid_methods: frozenset[str] | None = None,
) -> dict[str, Any]:
    """jwt.ParseWithClaims(token, &FunctionClaims{}, keyFunc, options...): claims or GoError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise GoError("token is malformed: token contains an invalid number of segments")
    header_b64, claims_b64, signature_b64 = parts
    try:
        header_bytes = decode_segment(header_b64)
    except GoError as exc:
        raise GoError(f"token is malformed: could not base64 decode header: {exc}") from None
    try:
        header = _json(header_bytes)
        if header is not None and not isinstance(header, dict):
            kind = _json_kind(header)
            raise GoError(
                f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            )
    except GoError as exc:
        raise GoError(f"token is malformed: could not JSON decode header: {exc}") from None
    header = header or {}
    try:
        claims_bytes = decode_segment(claims_b64)
    except GoError as exc:
        raise GoError(f"token is malformed: could not base64 decode claim: {exc}") from None
    try:
        claims = _claims(claims_bytes)
    except GoError as exc:
        raise GoError(f"token is malformed: could not JSON decode claim: {exc}") from None
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise GoError("token is unverifiable: signing method (alg) is unspecified")
    if alg not in METHODS:
        raise GoError("token is unverifiable: signing method (alg) is unavailable")
    if valid_methods is not None and alg not in valid_methods:
        raise GoError(f"token signature is invalid: signing method {alg} is invalid")
    try:
        signature = decode_segment(signature_b64)
    except GoError as exc:
        raise GoError(f"token is malformed: could not base64 decode signature: {exc}") from None
    try:
        key = key_func(header)
    except GoError as exc:
        raise GoError(f"token is unverifiable: error while executing keyfunc: {exc}") from None
    try:
        _verify_signature(alg, f"{header_b64}.{claims_b64}".encode("latin-1"), signature, key)
    except GoError as exc:
        raise GoError(f"token signature is invalid: {exc}") from None
    _validate(claims, issuer=issuer, now=now, leeway=leeway)
    return claims
