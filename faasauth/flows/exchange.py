"""A function token for a subject: from the cache, else one exchange under the entry lock."""

from __future__ import annotations

from faasauth.flows.subject import SubjectSource
from faasauth.gateway.exchange import SubjectType, request_function_token
from faasauth.runtime import Runtime
from faasauth.store.cache import function_token_key
from faasauth.tokens.function import FunctionToken, ObtainedToken

DEFAULT_MIN_TTL = 30.0


def obtain_function_token(
    rt: Runtime,
    subject: SubjectSource,
    audiences: list[str],
    *,
    subject_type: SubjectType = "id_token",
    min_ttl: float = DEFAULT_MIN_TTL,
    force: bool = False,
    reject: str | None = None,
) -> ObtainedToken:
    """A cached function token with at least `min_ttl` seconds left, else a new exchange.

    The exchange runs under the entry's lock, and the cache is read again once the lock is
    held: of N processes that miss together, one exchanges and the rest reuse its token.
    `reject` names a token the function just refused: it is never returned from the cache.
    """
    key = function_token_key(rt.settings.gateway, subject.identity, audiences)

    def cached() -> FunctionToken | None:
        if force:
            return None
        token = rt.cache.find_function_token(key)
        if token and token.usable(rt.now(), min_ttl) and token.access_token != reject:
            return token
        return None

    # Entries are replaced atomically, so the common warm case needs no lock.
    hit = cached()
    if hit is not None:
        return ObtainedToken(hit, True, key)
    with rt.cache.locked(key):
        hit = cached()
        if hit is not None:
            return ObtainedToken(hit, True, key)
        from faasauth.tokens.jwt import subject_of

        subject_token = subject.fetch()
        token = request_function_token(rt, subject_token, subject_type, audiences)
        token.subject = subject_of(subject_token)
        if token.expires_at is not None:
            rt.cache.save_function_token(key, token)
        return ObtainedToken(token, False, key)
