"""Where secrets come from: files, stdin and the environment, never argv, which `ps` and
shell history keep."""

from __future__ import annotations

import os
import sys
from typing import Mapping

from faasauth.errors import UsageFailure

# A token, secret or key is at most a few KB: anything bigger is not one (and /dev/zero
# would be read until memory runs out).
MAX_SECRET_FILE = 64 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_secret_bytes(path: str, what: str) -> bytes:
    """The bytes of the regular file PATH (`~` expanded), at most MAX_SECRET_FILE; anything
    else is a one-line usage error naming `what`. The one reader of every token, secret
    and key file: opened non-blocking so that a FIFO cannot hang us, then checked by fstat
    (a FIFO, a device such as /dev/zero, a socket or a directory is refused)."""
    import errno
    import stat

    def refuse(reason: str, hint: str | None = None) -> UsageFailure:
        return UsageFailure(f"cannot read the {what} file {path}: {reason}", hint=hint)

    try:
        fd = os.open(os.path.expanduser(path), _OPEN_FLAGS)
    except OSError as exc:
        raise refuse(exc.strerror or type(exc).__name__) from None
    with os.fdopen(fd, "rb") as handle:
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise refuse(os.strerror(errno.EISDIR))
            if not stat.S_ISREG(mode):
                kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                        else "not a file")
                raise refuse(f"{kind}, not a regular file",
                             hint=f"put the {what} in a file, or give - to read it from stdin")
            data = handle.read(MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise refuse(exc.strerror or type(exc).__name__) from None
    if len(data) > MAX_SECRET_FILE:
        raise refuse(f"larger than {MAX_SECRET_FILE // 1024} KiB, which no {what} is")
    return data


def read_secret_text(path: str, what: str) -> str:
    """The text of PATH (read_secret_bytes), or of stdin for `-` (as capped); a one-line
    usage error naming `what`."""
    try:
        if path == "-":
            text = sys.stdin.read(MAX_SECRET_FILE + 1)
            if len(text) > MAX_SECRET_FILE:
                raise UsageFailure(
                    f"the {what} on stdin is larger than {MAX_SECRET_FILE // 1024} KiB, "
                    f"which no {what} is"
                )
            return text
        return read_secret_bytes(path, what).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UsageFailure(f"cannot read the {what} file {path}: {reason}") from None


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
