"""The OAuth 2.0 / OpenID Connect client side: talking to the identity provider.

    forms        one form-POST helper: a TokenResponse, a TokenError, or a faasauth error
    discovery    /.well-known/openid-configuration and the endpoints it names
    grants       the grant dispatcher: each grant is one unit behind one signature
    grant_call   what every unit is handed (LoginRequest, GrantCall) and that signature,
                 below the units and the dispatcher: a unit knows neither
    prompts      what a person is shown (DeviceCode) and the prompts the CLI implements
    client_credentials, device_code, refresh   the grants themselves
    ambient      the identity a CI job or pod already has: detection, stored sources
    ambient_sources  GitHub Actions, GitLab CI, token files, Buildkite/CircleCI agents
    loopback_redirect  the browser login's redirect receiver on 127.0.0.1 (RFC 8252 7.3)
    authorization_code the browser login: PKCE S256, state, nonce, the code redeemed with
                       the verifier, the ID token checked
"""
