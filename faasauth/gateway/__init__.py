"""The OpenFaaS gateway, client side: no policy, only the wire.

    exchange   the RFC 8693 token-exchange request at <gateway>/oauth/token
    call       one function call: probe, challenge, token, retry once; the answer to stdout
    challenge  parsing WWW-Authenticate, spotting `Bearer realm=IAM function invoke`
    body       request bodies from stdin (memory, regular file, pipe) that can be replayed
"""
