"""The proxy renews what it has used before calls would need it: the function token once
less than RENEW_AHEAD seconds are left (calls take it until DEFAULT_MIN_TTL), under the
shared lock; a renewal that fails is said once, not every round."""

from __future__ import annotations

import threading
import time
from faasauth.config.settings import resolve_settings
from faasauth.flows.exchange import DEFAULT_MIN_TTL
from faasauth.proxy.forward import Forwarder
from faasauth.proxy.renewal import RENEW_AHEAD, Renewal
from faasauth.runtime import Runtime
from faasauth.sandbox import Sandbox

AUDIENCE = "openfaas-fn:echo-auth"


def _forwarder(sandbox: Sandbox, shift: list[float]) -> Forwarder:
    settings = resolve_settings(gateway=sandbox.gateway_url)
    return Forwarder(Runtime(settings, clock=lambda: time.time() + shift[0]))


def test_a_token_near_expiry_is_renewed_in_the_background_not_by_a_call(sandbox: Sandbox) -> None:
    assert DEFAULT_MIN_TTL < RENEW_AHEAD
    shift = [0.0]
    forwarder = _forwarder(sandbox, shift)
    said: list[str] = []
    renewal = Renewal(forwarder, said.append, threading.Event())
    first = forwarder.tokens(AUDIENCE)
    assert not first.cached and sandbox.count("/oauth/token", origin="gateway") == 1
    expires_at = first.token.expires_at
    assert expires_at is not None
    # Between the two margins: a call still takes the cached token ...
    shift[0] = expires_at - time.time() - (DEFAULT_MIN_TTL + RENEW_AHEAD) / 2
    assert forwarder.tokens(AUDIENCE).cached
    assert sandbox.count("/oauth/token", origin="gateway") == 1
    # ... and the renewal replaces it ahead of time.
    renewal.once()
    assert renewal.exchanges == 1 and sandbox.count("/oauth/token", origin="gateway") == 2
    after = forwarder.tokens(AUDIENCE)
    assert after.cached and after.token.access_token != first.token.access_token
    renewal.once()  # nothing near expiry now: no exchange
    assert sandbox.count("/oauth/token", origin="gateway") == 2
    assert said == []
    forwarder.rt.close()


def test_nothing_is_renewed_before_anything_was_asked_for(sandbox: Sandbox) -> None:
    forwarder = _forwarder(sandbox, [0.0])
    Renewal(forwarder, print, threading.Event()).once()
    assert sandbox.count("/oauth/token") == 0
    forwarder.rt.close()


def test_a_failing_renewal_is_said_once(sandbox: Sandbox) -> None:
    shift = [0.0]
    forwarder = _forwarder(sandbox, shift)
    forwarder.tokens(AUDIENCE)
    said: list[str] = []
    renewal = Renewal(forwarder, said.append, threading.Event())
    sandbox.stop()
    shift[0] = 10_000.0  # everything expired: renewal must reach the IdP, which is gone
    for _ in range(3):
        renewal.once()
    assert len(said) == 1, said
    assert said[0].startswith("cannot renew the tokens: ")
    assert "127.0.0.1:" in said[0]  # where it failed
    forwarder.rt.close()
