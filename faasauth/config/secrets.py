"""Where secrets come from: files, stdin and the environment, never argv, which `ps` and
shell history keep."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

from faasauth.errors import UsageFailure


def read_secret_text(path: str, what: str) -> str:
    """The text of PATH, or of stdin for `-`; a one-line usage error naming `what`."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).expanduser().read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UsageFailure(f"cannot read the {what} file {path}: {reason}") from exc


def read_token_file(path: str) -> str:
    """A token from a file or `-` (stdin); surrounding whitespace is dropped."""
    token = read_secret_text(path, "token").strip()
    if not token or any(c.isspace() for c in token):
        raise UsageFailure(f"the token file {path} does not hold a single token")
    return token


def read_client_secret(
    path: str | None, env: Mapping[str, str], *, allow_stdin: bool = True
) -> str | None:
    """--client-secret-file PATH|- (or FAASAUTH_CLIENT_SECRET_FILE), else FAASAUTH_CLIENT_SECRET.

    Renewal passes allow_stdin=False: during `invoke`, stdin is the function's request body.
    """
    path = path or env.get("FAASAUTH_CLIENT_SECRET_FILE") or None
    if path == "-" and not allow_stdin:
        path = None
    if path:
        # Only the line ending goes: a secret may legitimately begin or end with spaces.
        secret = read_secret_text(path, "client secret").rstrip("\r\n")
        if not secret:
            raise UsageFailure(f"the client secret file {path} is empty")
        return secret
    return env.get("FAASAUTH_CLIENT_SECRET") or None


def jwt_problem(text: str) -> tuple[str, str | None] | None:
    """Why `text` is not a compact JWT (what it looks like, and a hint), or None if it is one.

    Only the shape is checked (three base64url parts, a JSON header with `alg`, a JSON
    payload): the signature is the gateway's to verify.
    """
    import base64
    import binascii
    import json

    if not text:
        return "is empty", None
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and "value" in document:
            return (
                "holds GitHub's JSON answer, not the token in it",
                "extract the token with `jq -r .value`",
            )
        return "holds JSON, not a JWT", None
    parts = text.split(".")
    if len(parts) != 3 or any(c.isspace() for c in text):
        return "does not hold a JWT (three base64url parts separated by dots)", None
    decoded = []
    for part in parts[:2]:
        try:
            decoded.append(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
        except (ValueError, binascii.Error):
            decoded.append(None)
    header, payload = decoded
    if not isinstance(header, dict) or "alg" not in header or not isinstance(payload, dict):
        return "does not hold a JWT (its parts do not decode to a JWT header and claims)", None
    return None


def read_jwt_file(path: str) -> str:
    """A JWT from a file or `-` (stdin), surrounding whitespace dropped; anything else (an
    empty file, `garbage`, GitHub's `{"value": ...}` answer) is a UsageFailure naming it."""
    token = read_secret_text(path, "token").strip()
    problem = jwt_problem(token)
    if problem is not None:
        what, hint = problem
        where = "stdin" if path == "-" else f"the token file {path}"
        raise UsageFailure(f"{where} {what}", hint=hint)
    return token
