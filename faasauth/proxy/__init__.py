"""`faasauth proxy`: one resident process holding the login and warm connections.

    guard      who may use it: loopback Host, browser Origin/Sec-Fetch-Site, peer uid
    bodies     a caller's request body as an httpx stream (Content-Length or chunked)
    forward    one call sent on with the token invoke would add; the answer streamed back
    server     the threaded HTTP servers (127.0.0.1 and a unix socket), drain, control
    renewal    the login and function tokens renewed in the background
    lifecycle  start (stale socket replaced), --background, --stop, status of a running one
    paths      where a gateway's proxy socket lives (standard library only)
    handoff    `faasauth invoke` run by the proxy: a warm process forks one per call
    thin       the client side of the handoff: no click, httpx or ssl imported
"""
