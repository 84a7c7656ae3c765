"""A local stand-in for an OpenFaaS gateway with IAM function authentication plus an OpenID
provider, in one process on 127.0.0.1: `faasauth sandbox` on the command line, `Sandbox` in
Python, the `faasauth_sandbox` fixture in pytest (faasauth.sandbox.pytest_plugin).

Modules, one concept each:

    core        Sandbox: wiring, life cycle, helpers for tests
    issuing     tokens the sandbox issues for tests, and a gateway key rotation
    server      HTTP/1.1 plumbing (chunked bodies, streaming, keep-alive, latency)
    keys        ES256 signing keys and JWKS
    idp         the OpenID provider (client credentials, device grant, code, refresh)
    device      device codes and the /device approval page
    authorize   the browser login: /authorize, its login page, codes with PKCE S256
    oauth       forms, client authentication, OAuth error answers
    iam         JwtIssuer / Policy / Role objects and their evaluation
    exchange    the gateway's token exchange at /oauth/token
    watchdog    the function-side JWT check and its 401/403 answers
    gojwt       golang-jwt's parsing order and error strings
    functions   echo / env and faas-cli stack files
    user_functions  the user's own: an HTTP server (--function) or a command (--function-exec)
    gateway     the gateway's routes
    system_api  the REST API under /system/ that faas-cli reads, basic auth, IAM read actions
    requestlog  the record of requests, for tests and the stderr log
    tls         a throw-away CA and certificate for --tls
    ci          a CI platform or pod's ambient identity (--ci github|gitlab|kubernetes)
    launch      what `faasauth sandbox` runs (serve, or run a command)
    pytest_plugin  opt-in fixtures: faasauth_sandbox, faasauth_sandbox_env, ..._factory
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faasauth.sandbox.core import Sandbox

__all__ = ["Sandbox"]


def __getattr__(name: str) -> Any:
    # Lazy: importing one module of the sandbox (gojwt, say) must not start the whole server.
    if name == "Sandbox":
        from faasauth.sandbox.core import Sandbox

        return Sandbox
    raise AttributeError(f"module 'faasauth.sandbox' has no attribute {name!r}")
