"""faasauth: call OpenFaaS functions protected by OpenFaaS IAM function authentication.

Layers, each a package; imports point down only (tests/test_architecture.py checks it):

    cli/       click only: the entry point, options, rendering, one module per command
    flows/     one module per command's work (auth, login, subject, exchange, invoke, status)
    idp/       the OAuth/OIDC client: form POSTs, discovery, one unit per grant
    gateway/   the OpenFaaS gateway: token exchange, function call, challenge, request bodies
    store/     home directory, locks, token store backends, TokenCache, remembered functions
    http.py    the one place HTTP clients are made (TLS, proxies, redacted --verbose logs)
    lanes.py   a connection per call in flight, for a client many threads share (the proxy)
    trust.py   the CA certificates https:// trusts (--cacert, SSL_CERT_FILE, the system's)
    relay.py   a command run by a proxy sends its gateway requests through the proxy's pool
    runtime.py Runtime: settings, clock, environment, store and client for one command
    tokens/    records without I/O: Login, FunctionToken, TokenResponse, JWT helpers
    config/    settings (flag > env > stack.yml > default), faas-cli's config, secret files
    errors.py  the one exception tree, each class with its exit code
    _version.py  __version__, which this module re-exports; other modules import it there
    console.py messages for people, on stderr
    proxy/     `faasauth proxy`: the resident process holding the login and warm connections
    sandbox/   a local gateway with IAM and an OpenID provider, for trying and testing

As a library (faasauth.api), imported on first use so that `import faasauth` stays light:

    FunctionAuth, function_token, invoke         the CLI's invoke and exchange for Python
    StoredLogin, TokenFile, ClientCredentials, Ambient   where the subject token comes from
    FaasauthError and its subclasses             faasauth.errors

Importing this package loads nothing else but its version: start-up time is a feature.
"""

from __future__ import annotations

from faasauth._version import __version__  # written there, for every layer to import

# Not `import typing` (6 ms, a fifth of a warm invoke through the proxy): mypy reads
# TYPE_CHECKING as True wherever it is defined.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from faasauth.api import (
        Ambient,
        ClientCredentials,
        FunctionAuth,
        StoredLogin,
        TokenFile,
        function_token,
        invoke,
    )
    from faasauth.errors import (
        ExchangeRefused,
        FaasauthError,
        FunctionRefused,
        LoginFailed,
        NotLoggedIn,
        Refused,
        TransientFailure,
        UsageFailure,
    )

_API = ("Ambient", "ClientCredentials", "FunctionAuth", "StoredLogin", "TokenFile", "function_token",
        "invoke")
_ERRORS = ("ExchangeRefused", "FaasauthError", "FunctionRefused", "LoginFailed",
           "NotLoggedIn", "Refused", "TransientFailure", "UsageFailure")
__all__ = ["__version__", *_API, *_ERRORS]


def __getattr__(name: str) -> Any:
    if name in _API:
        from faasauth import api

        return getattr(api, name)
    if name in _ERRORS:
        from faasauth import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'faasauth' has no attribute {name!r}")
