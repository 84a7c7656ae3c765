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
