"""Functions known to require a token, per gateway: so the next call sends it at once.

A non-secret state file in the faasauth home (`remembered-functions.json`):

    {"version": 1,
     "gateways": {"https://gw.example.com": {"openfaas-fn:env": {"since": 1700000000.0}}}}

The rule (see faasauth.flows.invoke):
  * remember a function when it answers with the `IAM function invoke` challenge;
  * forget it when a call sent WITHOUT a token reached it and it did not ask for one
    (any answer below 500 other than that challenge; async calls prove nothing, since the
    gateway answers 202 before the function runs);
  * a remembered function is called without a token only when no token can be had (no
    login, exchange refused): that single call is what finds out it stopped asking.

Reads are unlocked (the file is replaced atomically); every change is a read-modify-write
under `Home.lock`. The notes are an optimisation: failing to write them is only a warning.
Shell completion can list `known()` functions and namespaces without any network call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from faasauth.console import warn
from faasauth.errors import FaasauthError
from faasauth.store.home import Home
from faasauth.tokens.expiry import Clock, system_clock

STATE_FILE = "remembered-functions.json"
LOCK_KEY = "state|" + STATE_FILE
VERSION = 1


@dataclass(frozen=True)
class RememberedFunction:
    gateway: str
    namespace: str
    name: str
    since: float

    @property
    def target(self) -> str:
        return f"{self.namespace}:{self.name}"


class RememberedFunctions:
    """The notes in one faasauth home. `target` is `<namespace>:<name>`.

    `fresh_for` seconds (the proxy's: a read per call cost more than its forwarding) the
    notes last read are used again without reading the file; this object's own changes are
    seen at once, another process's within that time.
    """

    def __init__(self, home: Home, *, clock: Clock = system_clock,
                 fresh_for: float = 0.0) -> None:
        self.home = home
        self.clock = clock
        self.fresh_for = fresh_for
        self._read: tuple[float, dict[str, Any]] | None = None  # (monotonic time, gateways)

    def _gateways(self, *, fresh: bool = False) -> dict[str, Any]:
        memo = self._read
        if not fresh and memo is not None and time.monotonic() - memo[0] < self.fresh_for:
            return memo[1]
        try:
            data = self.home.read_state(STATE_FILE)
        except OSError:  # an unreadable home: no notes, as if none were ever taken
            return {}
        gateways = data.get("gateways") if data.get("version") == VERSION else None
        gateways = gateways if isinstance(gateways, dict) else {}
        if self.fresh_for and not fresh:  # a read for a change is changed: never kept
            self._read = (time.monotonic(), gateways)
        return gateways

    def needs_auth(self, gateway: str, target: str) -> bool:
        functions = self._gateways().get(gateway)
        return isinstance(functions, dict) and isinstance(functions.get(target), dict)

    def known(self, gateway: str | None = None) -> list[RememberedFunction]:
        found = []
        for gw, functions in sorted(self._gateways().items()):
            if (gateway is not None and gw != gateway) or not isinstance(functions, dict):
                continue
            for target, note in sorted(functions.items()):
                namespace, sep, name = str(target).partition(":")
                if not sep or not isinstance(note, dict):
                    continue
                since = note.get("since")
                since = float(since) if isinstance(since, (int, float)) else 0.0
                found.append(RememberedFunction(gw, namespace, name, since))
        return found

    def remember(self, gateway: str, target: str) -> None:
        def change(functions: dict[str, Any]) -> bool:
            if isinstance(functions.get(target), dict):
                return False
            functions[target] = {"since": self.clock()}
            return True

        self._update(gateway, change, f"cannot remember that {target} needs a token")

    def forget(self, gateway: str, target: str) -> None:
        def change(functions: dict[str, Any]) -> bool:
            return functions.pop(target, None) is not None

        self._update(gateway, change, f"cannot forget that {target} needed a token")

    def _update(self, gateway: str, change: Any, failure: str) -> None:
        try:
            with self.home.lock(LOCK_KEY):
                gateways = self._gateways(fresh=True)
                functions = gateways.get(gateway)
                if not isinstance(functions, dict):
                    functions = {}
                if not change(functions):
                    return
                if functions:
                    gateways[gateway] = functions
                else:
                    gateways.pop(gateway, None)
                self.home.write_state(STATE_FILE, {"version": VERSION, "gateways": gateways})
                self._read = None
        except (OSError, FaasauthError) as exc:
            reason = getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc)
            warn(f"{failure}: {reason}")
