"""Secrets out of text shown to people (--verbose lines, error messages), in every form a
server may echo them back in.

A server that echoes a request shows a secret in the form it was sent in, or decoded, or
re-encoded: raw, form- or URL-encoded (`%2B` or `%2b`, `+` for a space), JSON-escaped, the
client secret inside an HTTP Basic value or decoded from it (`cid:secret`), and base64 or
base64url of any of these, alone or inside a longer base64 text. `Redactor(secrets)` removes
each of them; `sent_secrets` lists what one request carried.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

REDACTED = "<redacted>"
MIN_SECRET = 8  # shorter values would redact ordinary words; fields are masked by name
SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "subject_token",
        "access_token",
        "id_token",
        "refresh_token",
        "device_code",
        "code",  # an authorization code (the browser login)
        "code_verifier",
        "password",
        "actor_token",
        "assertion",
    }
)
SECRET_HEADERS = ("authorization", "proxy-authorization")

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# A run of base64 or base64url text, percent-encoded or not, padding included.
_BASE64_RUN = re.compile(r"(?:[A-Za-z0-9+/_-]|%[0-9A-Fa-f]{2})+=*")
_TO_STANDARD = str.maketrans("-_", "+/")


def secret_forms(secret: str) -> list[str]:
    """The ways a secret appears as text: as is, form-encoded, URL-encoded, JSON-escaped."""
    forms = {secret, quote_plus(secret, safe=""), quote(secret, safe=""), quote(secret)}
    escaped = json.dumps(secret)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(secret, ensure_ascii=False)[1:-1]}
    return sorted((f for f in forms if f), key=len, reverse=True)


def _base64_cores(data: bytes) -> list[str]:
    """For each of the 3 alignments `data` can have inside a longer base64 text, the
    characters that depend on `data` alone: one of them is in any base64 of a text
    holding `data` (the first and last characters depend on the neighbouring bytes)."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii").rstrip("=")
        start = -(-8 * offset // 6)  # the first character holding only data's bits
        end = 8 * (offset + len(data)) // 6
        if end - start >= 8:
            cores.append(encoded[start:end])
    return cores


class Redactor:
    """Removes the given secrets, in every form, and anything JWT-shaped, from text."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        kept = {s for s in secrets if s and len(s) >= MIN_SECRET}
        forms: set[str] = set()
        cores: set[str] = set()
        for secret in kept:
            for form in secret_forms(secret):
                forms.add(form)
                cores.update(_base64_cores(form.encode("utf-8")))
        self._forms = sorted(forms, key=len, reverse=True)
        self._cores = cores

    def __call__(self, text: str) -> str:
        if self._cores:  # first, so that a base64 text holding a secret goes whole
            text = _BASE64_RUN.sub(self._base64_run, text)
        for form in self._forms:
            if "%" in form:  # hex digits in either case
                text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
            elif form in text:
                text = text.replace(form, REDACTED)
        return _JWT_SHAPE.sub(REDACTED, text)

    def _base64_run(self, match: re.Match[str]) -> str:
        run = match.group(0)
        if len(run) < 8:
            return run
        standard = unquote(run).translate(_TO_STANDARD)
        return REDACTED if any(core in standard for core in self._cores) else run


def redact_tokens(text: str, *secrets: str | None) -> str:
    """Remove JWT-shaped strings and the given secrets (in every form) from text."""
    return Redactor(secrets)(text)


def sent_secrets(headers: Iterable[tuple[str, str]], form: str = "") -> list[str]:
    """What a request carried that must not come back in what is shown of its answer: the
    credentials of Authorization headers (with the password an HTTP Basic value holds, as
    sent and decoded) and the secret fields of a form-encoded body."""
    found: list[str] = []
    for name, value in headers:
        if name.lower() not in SECRET_HEADERS:
            continue
        scheme, _, credentials = value.strip().partition(" ")
        found.append(credentials.strip())
        if scheme.lower() == "basic":
            found.extend(_basic_parts(credentials.strip()))
    for key, value in parse_qsl(form, keep_blank_values=True):
        if key in SECRET_FIELDS:
            found.append(value)
    return found


def _basic_parts(credentials: str) -> list[str]:
    try:
        pair = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
    user, _, password = pair.partition(":")
    return [pair, password, unquote_plus(password), unquote_plus(user) + ":" + unquote_plus(password)]
