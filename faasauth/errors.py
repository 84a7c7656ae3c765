"""The one exception tree of faasauth, and the exit code each branch maps to.

    FaasauthError                 (5, unexpected: should never escape unmapped)
    ├── FunctionFailed            1  the function answered a non-2xx status
    ├── UsageFailure              2  bad flags, bad input files, bad configuration
    ├── TransientFailure          3  network/TLS/timeout, 5xx, HTML or malformed answers
    │   ├── MalformedResponse         an IdP or gateway answer we cannot read
    │   └── LockTimeout               another faasauth held a store lock too long
    ├── Interrupted             130  Ctrl-C, where a line says what was stopped
    └── Refused                   4  retrying will not help without new credentials
        ├── NotLoggedIn               no usable login for this gateway
        ├── LoginFailed               the IdP said no
        ├── ExchangeRefused           the gateway's token endpoint said no
        └── FunctionRefused           a final 401/403 from the function

Third-party exceptions (httpx, keyring, OSError) are translated into this tree where they
are raised; `faasauth.cli.app.main` is the one place that prints a message and exits.
Messages never contain secrets: build them from names and server error codes, not tokens.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FUNCTION_FAILED = 1
    USAGE = 2
    TRANSIENT = 3
    REFUSED = 4
    INTERNAL = 5
    INTERRUPTED = 130


class FaasauthError(Exception):
    """Root of every error faasauth reports on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint


class FunctionFailed(FaasauthError):
    exit_code = ExitCode.FUNCTION_FAILED


class UsageFailure(FaasauthError):
    exit_code = ExitCode.USAGE


class TransientFailure(FaasauthError):
    exit_code = ExitCode.TRANSIENT


class MalformedResponse(TransientFailure):
    pass


class LockTimeout(TransientFailure):
    pass


class Interrupted(FaasauthError):
    exit_code = ExitCode.INTERRUPTED


class Refused(FaasauthError):
    exit_code = ExitCode.REFUSED


class NotLoggedIn(Refused):
    default_hint = "run: faasauth auth --authority ISSUER_URL --client-id ID"


class LoginFailed(Refused):
    pass


class ExchangeRefused(Refused):
    pass


class FunctionRefused(Refused):
    pass
