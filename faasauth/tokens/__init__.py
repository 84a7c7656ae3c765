"""Token records and helpers, without I/O.

    jwt       unverified JWT claims (display and expiry only), masking
    redact    secrets out of shown text, in every form a server may echo them in
    expiry    clocks and expiry arithmetic
    response  TokenResponse / TokenError: a token endpoint's answer, checked once
    function  FunctionToken: a function access token as cached
    login     Login: the stored IdP login for a gateway, how to renew it, its faas-cli entry
"""
