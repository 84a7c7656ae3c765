"""The OAuth 2.0 / OpenID Connect client side: talking to the identity provider.

    forms        one form-POST helper: a TokenResponse, a TokenError, or a faasauth error
    discovery    /.well-known/openid-configuration and the endpoints it names
    grants       the grant dispatcher: each grant is one unit behind one signature
    client_credentials, device_code, refresh   the grants themselves
"""
