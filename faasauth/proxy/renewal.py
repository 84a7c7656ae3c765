"""Keeping the proxy's tokens fresh in the background, so no call waits for an exchange.

Every INTERVAL seconds: the login is renewed when near expiry (flows.login, under the
login's lock, as any command renews it), and each audience the proxy has been asked for
gets a new function token once less than RENEW_AHEAD seconds are left, under the entry's
lock shared with every faasauth process: one exchange per audience, whoever misses first.
Calls take cached tokens with at least flows.exchange.DEFAULT_MIN_TTL left, so a renewed
one is always there first. A failure is said once on stderr (and again only when it
changes or after it healed); calls meanwhile get the error as a 401/502 (proxy/server.py).
faas-cli's API token that `auth --faas-cli` wrote from the login is renewed here too, as
it nears expiry (the calls' own path leaves it alone), whether or not any call came yet.
"""

from __future__ import annotations

import threading
from typing import Callable

from faasauth.errors import FaasauthError
from faasauth.proxy.forward import Forwarder

INTERVAL = 15.0
RENEW_AHEAD = 60.0  # DEFAULT_MIN_TTL (30) + two intervals


class Renewal:
    def __init__(self, forwarder: Forwarder, say: Callable[[str], None],
                 stop: threading.Event, interval: float = INTERVAL) -> None:
        self.forwarder = forwarder
        self.say = say
        self.stop = stop
        self.interval = interval
        self._said: str | None = None
        self._said_faas_cli: str | None = None
        self.exchanges = 0

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, daemon=True, name="faasauth-renewal")
        thread.start()
        return thread

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            self.once()

    def once(self) -> None:
        from faasauth.flows.exchange import obtain_function_token

        self._keep_faas_cli()
        forwarder = self.forwarder
        try:
            with forwarder._lock:
                audiences = sorted(forwarder.audiences)
            if not audiences and forwarder._subject is None:
                return  # nothing asked for yet: no login to keep
            subject = forwarder.subject()
            subject.fetch()  # renews the login when it nears expiry
            for audience in audiences:
                got = obtain_function_token(forwarder.rt, subject, [audience],
                                            min_ttl=RENEW_AHEAD)
                forwarder.keep(audience, got)
                if not got.cached:
                    self.exchanges += 1
        except FaasauthError as exc:
            if exc.__class__.__name__ == "NotLoggedIn":
                forwarder.forget_subject()
            text = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            if text != self._said:
                self._said = text
                self.say(f"cannot renew the tokens: {text}")
            return
        if self._said is not None:
            self._said = None
            self.say("tokens renewed again")

    def _keep_faas_cli(self) -> None:
        """faas-cli's API token for the gateway, renewed ahead of time; a failure is said
        once (and that it healed), as the tokens' own."""
        from faasauth.flows.login import api_token_problem, keep_faas_cli_fresh

        rt = self.forwarder.rt
        problems: list[str] = []
        kept = False  # still faasauth's entry to renew (not replaced, not logged out)
        try:
            login = rt.cache.find_login(self.forwarder.gateway)
            if login is not None and login.faas_cli is not None:
                after, failed = keep_faas_cli_fresh(rt, login, report=problems.append)
                kept = after.faas_cli is not None
                if failed is not None:
                    problems.append(api_token_problem(login, failed))
        except FaasauthError as exc:  # the store (a keyring) did not answer
            problems.append(f"cannot renew faas-cli's API token: {exc.message}")
        text = problems[0] if problems else None
        if text != self._said_faas_cli:
            if text is not None:
                self.say(text)
            elif kept:
                self.say("faas-cli's API token renewed again")
            self._said_faas_cli = text
