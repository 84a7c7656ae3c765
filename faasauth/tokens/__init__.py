"""Token records and helpers, without I/O.

    jwt       unverified JWT claims (display and expiry only), masking and redaction
    expiry    clocks and expiry arithmetic
    response  TokenResponse / TokenError: a token endpoint's answer, checked once
    function  FunctionToken: a function access token as cached
    login     Login: the stored IdP login for a gateway, and how to renew it
"""
