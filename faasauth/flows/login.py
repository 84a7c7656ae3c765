"""Keeping the stored login usable: renew it under the store lock when it is about to expire."""

from __future__ import annotations

from faasauth.runtime import Runtime
from faasauth.tokens.login import Login, login_key


def renew_login(rt: Runtime, login: Login) -> Login:
    """A renewed copy of `login`, or an error; the stored entry is not touched here."""
    from faasauth.idp.grants import renew

    return renew(rt, login)


def fresh_login(rt: Runtime, login: Login) -> Login:
    if not login.needs_renewal(rt.now()):
        return login
    key = login_key(login.gateway)
    with rt.home.lock(key):
        # Another process may have renewed it while we waited for the lock.
        entry = rt.store.get(key)
        current = (Login.from_entry(entry) if entry else None) or login
        if not current.needs_renewal(rt.now()):
            return current
        renewed = renew_login(rt, current)
        rt.store.put(key, renewed.to_entry())
        return renewed
