"""Property tests (hypothesis) for every parser of outside input: whatever a server, a file
or a user gives, each either answers or raises faasauth's own error - never anything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faasauth.errors import FaasauthError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
TOKEN_FIELDS = st.fixed_dictionaries({}, optional={
    k: JSON for k in ("access_token", "token_type", "expires_in", "refresh_token", "id_token",
                      "scope", "issued_token_type")})
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.text())
def test_challenges_parse_or_skip(value: str) -> None:
    from faasauth.gateway.challenge import is_function_invoke_challenge, parse_challenges

    for challenge in parse_challenges(value):
        assert challenge.scheme == challenge.scheme.lower() and challenge.scheme
    assert isinstance(is_function_invoke_challenge([value]), bool)


@FAST
@given(st.text(min_size=1, max_size=40).filter(lambda s: '"' not in s and "\\" not in s))
def test_a_quoted_realm_comes_back_as_it_was(realm: str) -> None:
    from faasauth.gateway.challenge import parse_challenges

    (challenge,) = parse_challenges(f'Bearer realm="{realm}"')
    assert challenge.realm == realm


@FAST
@given(TOKEN_FIELDS)
def test_token_answers_are_checked_or_refused(body: dict[str, Any]) -> None:
    from faasauth.tokens.response import TokenResponse

    try:
        answer = TokenResponse.from_json(body)
    except ValueError:
        return
    assert isinstance(answer.access_token, str) and answer.access_token
    assert answer.expires_in is None or abs(answer.expires_in) < 1e12  # finite, never NaN
    for text in (answer.id_token, answer.refresh_token, answer.scope):
        assert text is None or isinstance(text, str)


@FAST
@given(st.text(), JSON)
def test_jwt_claims_never_raise(token: str, claims: Any) -> None:
    import base64

    from faasauth.tokens.expiry import expires_at_from
    from faasauth.tokens.jwt import mask, redact_tokens, unverified_claims

    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for candidate in (token, f"aGVhZGVy.{payload}.c2ln"):
        assert isinstance(unverified_claims(candidate), dict)
        expires = expires_at_from({"expires_in": claims}, candidate, 1000.0)
        assert expires is None or expires == expires  # never NaN
        assert isinstance(mask(candidate), str) and isinstance(redact_tokens(candidate), str)


@FAST
@given(JSON)
def test_store_entries_load_or_miss(value: Any) -> None:
    from faasauth.store.backends import decode_entry, encode_entry
    from faasauth.tokens.function import FunctionToken
    from faasauth.tokens.login import Login

    raw = json.dumps({"version": 1, "key": "k", "value": value})
    decoded = decode_entry("k", raw, "test")
    if isinstance(value, dict):
        assert json.dumps(decoded, sort_keys=True) == json.dumps(value, sort_keys=True)
        login = Login.from_entry(value)
        assert login is None or isinstance(login.gateway, str)
        token = FunctionToken.from_entry(value)
        assert token is None or token.access_token
        if login is not None:
            assert Login.from_entry(json.loads(encode_entry("k", login.to_entry()))["value"]) \
                == login


@FAST
@given(st.binary())
def test_store_bytes_decode_or_miss(raw: bytes) -> None:
    from faasauth.store.backends import decode_entry

    decoded = decode_entry("k", raw, "test")  # garbage: a miss (with a warning), no crash
    assert decoded is None or isinstance(decoded, dict)


@FAST
@given(st.text())
def test_headers_and_queries_parse_or_are_usage_errors(text: str) -> None:
    from faasauth.cli.params import parse_audience, parse_header, parse_query

    for parse in (parse_header, parse_query, parse_audience):
        try:
            parse(text)
        except FaasauthError as error:
            assert error.exit_code == 2


@FAST
@given(st.text())
def test_stack_files_read_or_are_usage_errors(tmp_path_factory: Any, text: str) -> None:
    from faasauth.config.settings import StackFile

    directory: Path = tmp_path_factory.mktemp("stack")
    (directory / "stack.yml").write_text(text, encoding="utf-8")
    stack = StackFile(directory, {})
    try:
        gateway = stack.gateway()
        namespace = stack.namespace("f")
    except FaasauthError as error:
        assert error.exit_code == 2
        return
    assert gateway is None or isinstance(gateway, str)
    assert namespace is None or isinstance(namespace, str)


@FAST
@given(st.text())
def test_faas_cli_configs_read_or_are_usage_errors(tmp_path_factory: Any, text: str) -> None:
    from faasauth.config.faas_cli import read_entries

    path: Path = tmp_path_factory.mktemp("openfaas") / "config.yml"
    path.write_text(text, encoding="utf-8")
    try:
        entries = read_entries(path)
    except FaasauthError as error:
        assert error.exit_code == 2
        return
    assert all(isinstance(e.gateway, str) for e in entries)
