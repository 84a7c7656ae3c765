"""Issue 21, finding 15: no secret in a `repr()`: a traceback, a debugger, a log line or a
test failure shows records, and `repr()` of `Login` or `ObtainedToken` showed the refresh,
ID and function tokens. Every field of a dataclass in the package whose name says it holds a
token, secret, code, verifier or key is `field(repr=False)`."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import faasauth
from faasauth.gateway.exchange import ApiToken
from faasauth.idp.prompts import DeviceCode
from faasauth.idp.forms import Client
from faasauth.idp.grants import LoginRequest
from faasauth.tokens.function import FunctionToken, ObtainedToken
from faasauth.tokens.login import Login
from faasauth.tokens.response import TokenResponse

SECRET_WORDS = {"token", "secret", "refresh", "code", "verifier", "password", "key",
                "credential", "credentials", "authorization", "assertion", "cookie"}
# A name ending so says what or where, not the secret itself (token_url, client_secret_file,
# token_expiry, code_challenge: the challenge is public).
NOT_SECRET_ENDINGS = {"file", "url", "uri", "endpoint", "type", "types", "expiry", "ttl",
                      "path", "kind", "kinds", "at", "seconds", "count", "source", "name",
                      "env", "id", "timeout", "header", "length", "challenge", "tokens"}
# Fields named like secrets that hold none, and why.
NOT_SECRETS = {
    ("faasauth.proxy.forward", "Answer", "token"): "a label for the log: none|cached|new|caller",
    ("faasauth.sandbox.requestlog", "RequestRecord", "token"): "a kind: one of TOKEN_KINDS",
    ("faasauth.tokens.function", "ObtainedToken", "key"): "the cache key: a subject's hash",
}
# Their own __repr__ leaves the secret out (idp/* is another branch's this round); pinned by
# test_repr_of_other_records_shows_no_secret below.
OWN_REPR = {("faasauth.idp.prompts", "DeviceCode"), ("faasauth.idp.forms", "Client"),
            ("faasauth.idp.grant_call", "LoginRequest")}


def looks_secret(name: str) -> bool:
    words = name.lower().strip("_").split("_")
    return bool(SECRET_WORDS & set(words)) and words[-1] not in NOT_SECRET_ENDINGS


def dataclasses_of_the_package() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(faasauth.__path__, "faasauth."):
        if info.name.endswith("__main__"):  # running it is the CLI
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (inspect.isclass(value) and dataclasses.is_dataclass(value)
                    and value.__module__ == info.name):
                found.append(value)
    return found


def test_every_secret_field_of_every_dataclass_is_left_out_of_repr() -> None:
    classes = dataclasses_of_the_package()
    assert Login in classes and ObtainedToken in classes and len(classes) > 30
    shown = []
    for cls in classes:
        if (cls.__module__, cls.__name__) in OWN_REPR:
            continue
        for field in dataclasses.fields(cls):
            named = (cls.__module__, cls.__name__, field.name)
            if looks_secret(field.name) and field.repr and named not in NOT_SECRETS:
                shown.append(".".join(named))
    assert shown == []


def test_the_name_rule() -> None:
    for name in ("refresh_token", "access_token", "id_token", "client_secret", "code",
                 "device_code", "user_code", "verifier", "sign_key", "secret", "token"):
        assert looks_secret(name), name
    for name in ("token_url", "client_secret_file", "token_expiry", "code_challenge",
                 "token_type", "function_tokens", "decode", "keyring_available", "expires_at"):
        assert not looks_secret(name), name


def test_the_exceptions_still_exist() -> None:
    known = {(c.__module__, c.__name__, f.name)
             for c in dataclasses_of_the_package() for f in dataclasses.fields(c)}
    assert set(NOT_SECRETS) <= known
    assert OWN_REPR <= {(module, name) for module, name, _ in known}


SECRETS = ["id-SECRET-1", "access-SECRET-2", "refresh-SECRET-3", "function-SECRET-4"]


def test_repr_of_a_login_and_an_obtained_token_shows_no_token() -> None:
    login = Login("http://gw:8080", authority="https://idp", client_id="faasauth",
                  id_token=SECRETS[0], access_token=SECRETS[1], refresh_token=SECRETS[2],
                  expires_at=10.0, subject="alice")
    obtained = ObtainedToken(FunctionToken(SECRETS[3], expires_at=20.0, subject="alice"),
                             True, "function|key")
    shown = repr(login) + repr(obtained) + repr(obtained.token) + str([login, obtained])
    assert "alice" in shown and "http://gw:8080" in shown and "function|key" in shown
    for secret in SECRETS:
        assert secret not in shown


@pytest.mark.parametrize("record", [
    TokenResponse(SECRETS[1], refresh_token=SECRETS[2], id_token=SECRETS[0]),
    ApiToken(SECRETS[3], 30.0, None),
    LoginRequest("https://idp", "faasauth", client_secret=SECRETS[2]),
    # the three with a __repr__ of their own (the user code is shown to the user anyway)
    DeviceCode(SECRETS[0], "WDJB-MJHT", "https://idp/device", None, 600, 5),
    Client("faasauth", SECRETS[2]),
], ids=lambda r: type(r).__name__)
def test_repr_of_other_records_shows_no_secret(record: object) -> None:
    shown = repr(record)
    assert shown.startswith(type(record).__name__ + "(")
    for secret in SECRETS:
        assert secret not in shown
