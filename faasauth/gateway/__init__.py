"""The OpenFaaS gateway, client side: no policy, only the wire.

    exchange   the RFC 8693 token-exchange request at <gateway>/oauth/token
    function_auth  FunctionAuth, an httpx.Auth: probe, challenge, token, retry once
    call       one `faasauth invoke` call through FunctionAuth; the answer to stdout
    challenge  parsing WWW-Authenticate, spotting `Bearer realm=IAM function invoke`
    misdirected  answers that say -g is wrong: a redirect to another origin, a 404 from
               something that is not an OpenFaaS gateway
    body       request bodies from stdin (memory, regular file, pipe) that can be replayed
    replay     Replayable streams, and Tee: a spooled copy of any other stream
    spool      the copy of a piped body kept for a retry: written and read back by threads
    listing    the gateway's function list, for shell completion (standard library only)
"""
