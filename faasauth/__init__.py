"""faasauth: call OpenFaaS functions protected by OpenFaaS IAM function authentication.

Layers, each a package; imports point down only (tests/test_architecture.py checks it):

    cli/       click only: the entry point, options, rendering, one module per command
    flows/     one module per command's work (auth, login, subject, exchange, invoke, status)
    idp/       the OAuth/OIDC client: form POSTs, discovery, one unit per grant
    gateway/   the OpenFaaS gateway: token exchange, function call, challenge, request bodies
    store/     home directory, locks, token store backends, TokenCache, remembered functions
    http.py    the one place HTTP clients are made (TLS, proxies, redacted --verbose logs)
    runtime.py Runtime: settings, clock, environment, store and client for one command
    tokens/    records without I/O: Login, FunctionToken, TokenResponse, JWT helpers
    config/    settings (flag > env > stack.yml > default), faas-cli's config, secret files
    errors.py  the one exception tree, each class with its exit code
    console.py messages for people, on stderr
    sandbox/   a local gateway with IAM and an OpenID provider, for trying and testing

Importing this package loads nothing else: start-up time is a feature.
"""

__version__ = "0.1.0.dev0"
