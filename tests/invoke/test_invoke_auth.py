"""`faasauth invoke` against the fake gateway: probing, retrying, remembering (in-process)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from faasauth.store.cache import function_token_key
from faasauth.store.remembered import STATE_FILE, RememberedFunctions
from faasauth.store.backends import FileStore
from faasauth.store.home import Home

from .fake_gateway import REALM_HEADER, SUBJECT_TOKEN, FakeGateway

ALL_BYTES = bytes(range(256)) * 4


def test_first_call_probes_exchanges_and_retries(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    result = run_cli("env", input=b"hello")
    assert result.code == 0, result.err
    assert result.out == b"hello"
    assert result.err == ""
    assert gateway.summary() == [
        "POST /function/env 401",
        "POST /oauth/token 200",
        "POST /function/env 200 +token",
    ]
    probe, exchange, call = gateway.requests
    assert probe.authorization is None
    assert exchange.form["audience"] == ["openfaas-fn:env"]
    assert exchange.form["subject_token"] == [SUBJECT_TOKEN]
    assert call.authorization == "Bearer " + next(iter(gateway.issued))
    assert probe.body == call.body == b"hello"


def test_warm_call_is_one_request(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    assert run_cli("env", input=b"one").code == 0
    gateway.reset()
    result = run_cli("env", input=b"two")
    assert result.code == 0 and result.out == b"two"
    assert gateway.summary() == ["POST /function/env 200 +token"]


def test_unprotected_function_is_one_request_and_not_remembered(
    gateway: FakeGateway, run_cli, isolated_environment: Path
) -> None:
    gateway.add("open", protected=False)
    for _ in range(2):
        result = run_cli("open", input=b"x")
        assert result.code == 0 and result.out == b"x"
    assert gateway.summary() == ["POST /function/open 200", "POST /function/open 200"]
    assert not (isolated_environment / STATE_FILE).exists()


@pytest.mark.parametrize(
    "challenge",
    [
        REALM_HEADER,
        'Bearer realm="IAM function invoke"',
        "bearer realm=IAM function invoke",
        'BEARER Realm="IAM function invoke", error="invalid_token"',
        'Basic realm="gateway", Bearer realm=IAM function invoke',
    ],
)
def test_realm_variants_are_retried(gateway: FakeGateway, run_cli, challenge: str) -> None:
    gateway.add("env", challenge=challenge)
    result = run_cli("env", input=b"hi")
    assert result.code == 0, result.err
    assert len(gateway.calls()) == 2 and len(gateway.exchanges) == 1


@pytest.mark.parametrize(
    "challenge",
    [None, 'Basic realm="IAM function invoke"', 'Bearer realm="another realm"', "Bearer"],
)
def test_other_401s_are_final(gateway: FakeGateway, run_cli, challenge: str | None) -> None:
    gateway.add("env", challenge=challenge)
    result = run_cli("env", input=b"hi")
    assert result.code == 4
    assert gateway.summary() == ["POST /function/env 401"]
    assert (
        "openfaas-fn:env refused the call: 401 Unauthorized: Bearer must be present" in result.err
    )
    assert result.out == b""  # OpenFaaS's own answer goes to stderr, not stdout


def test_a_function_own_401_body_goes_to_stdout(gateway: FakeGateway, run_cli) -> None:
    gateway.add("guarded", protected=False, status=401, body=b'{"error":"who?"}',
                headers={"WWW-Authenticate": 'Basic realm="app"'})
    result = run_cli("guarded")
    assert result.code == 4
    assert result.out == b'{"error":"who?"}'
    assert "no token was tried" in result.err
    assert len(gateway.requests) == 1


def test_403_is_final_and_exit_4(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env", forbidden=True)
    result = run_cli("env", input=b"hi")
    assert result.code == 4
    assert "refused the call: 403 Forbidden: insufficient permissions" in result.err
    assert "Role and Policy" in result.err
    assert result.out == b""
    assert gateway.summary() == [
        "POST /function/env 401", "POST /oauth/token 200", "POST /function/env 403 +token"
    ]
    gateway.reset()
    assert run_cli("env", input=b"hi").code == 4  # remembered: straight to the 403
    assert gateway.summary() == ["POST /function/env 403 +token"]


def test_a_fresh_token_refused_is_final_and_redacted(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    original_mint = gateway.mint

    def mint_and_forget(audiences: list[str]) -> str:
        token = original_mint(audiences)
        gateway.revoke_tokens()  # the function will not know it: "invalid JWT token: <it>"
        return token

    gateway.mint = mint_and_forget  # type: ignore[method-assign]
    result = run_cli("env", input=b"hi")
    assert result.code == 4
    assert gateway.summary() == [
        "POST /function/env 401", "POST /oauth/token 200", "POST /function/env 401 +token"
    ]
    token = gateway.requests[2].authorization.split()[1]
    assert "invalid JWT token: <redacted>" in result.err
    assert token not in result.err and token.encode() not in result.out


def test_revoked_cached_token_is_exchanged_afresh_once(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    assert run_cli("env", input=b"a").code == 0
    old = next(iter(gateway.issued))
    gateway.revoke_tokens()
    gateway.reset()
    result = run_cli("env", input=ALL_BYTES)
    assert result.code == 0, result.err
    assert result.out == ALL_BYTES
    assert gateway.summary() == [
        "POST /function/env 401 +token", "POST /oauth/token 200", "POST /function/env 200 +token"
    ]
    first, _, retry = gateway.requests
    assert first.authorization == f"Bearer {old}" != retry.authorization
    assert first.body == retry.body == ALL_BYTES
    gateway.reset()
    assert run_cli("env", input=b"c").code == 0  # the new token was cached
    assert gateway.summary() == ["POST /function/env 200 +token"]


def test_probe_then_refused_cached_token_then_fresh_one(
    gateway: FakeGateway, run_cli, isolated_environment: Path
) -> None:
    """Not remembered, but a cached token that is revoked: probe, cached, fresh."""
    gateway.add("env")
    assert run_cli("env").code == 0
    (isolated_environment / STATE_FILE).unlink()
    gateway.revoke_tokens()
    gateway.reset()
    result = run_cli("env", input=b"body")
    assert result.code == 0, result.err
    assert gateway.summary() == [
        "POST /function/env 401",
        "POST /function/env 401 +token",
        "POST /oauth/token 200",
        "POST /function/env 200 +token",
    ]
    assert {r.body for r in gateway.calls()} == {b"body"}


def test_expiring_cached_token_is_replaced(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    gateway.expires_in = 20  # under the 30 s a cached token must have left
    assert run_cli("env").code == 0
    gateway.reset()
    assert run_cli("env").code == 0
    assert gateway.summary() == ["POST /oauth/token 200", "POST /function/env 200 +token"]


def test_cached_token_about_to_expire_is_replaced(
    gateway: FakeGateway, run_cli, isolated_environment: Path
) -> None:
    gateway.add("env")
    assert run_cli("env").code == 0
    store = FileStore(Home(isolated_environment))
    (key,) = [k for k in store.keys() if k.startswith("function|")]
    assert key == function_token_key(gateway.url, "token|" + __import__("hashlib").sha256(
        SUBJECT_TOKEN.encode()).hexdigest(), ["openfaas-fn:env"])
    entry = store.get(key)
    assert entry is not None
    entry["expires_at"] = time.time() + 10
    store.put(key, entry)
    gateway.reset()
    assert run_cli("env").code == 0
    assert gateway.summary() == ["POST /oauth/token 200", "POST /function/env 200 +token"]
    gateway.reset()
    assert run_cli("env").code == 0
    assert gateway.summary() == ["POST /function/env 200 +token"]


def test_function_that_stops_asking_is_forgotten(
    gateway: FakeGateway, run_cli, isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = gateway.add("env")
    assert run_cli("env").code == 0
    notes = RememberedFunctions(Home(isolated_environment))
    assert notes.needs_auth(gateway.url, "openfaas-fn:env")
    # It is redeployed without jwt_auth, and the login is gone: the remembered function is
    # tried once without a token, answers, and the note goes.
    function.protected = False
    monkeypatch.delenv("FAASAUTH_SUBJECT_TOKEN")
    gateway.reset()
    result = run_cli("env", input=b"free")
    assert result.code == 0, result.err
    assert result.out == b"free"
    assert gateway.summary() == ["POST /function/env 200"]
    assert not notes.needs_auth(gateway.url, "openfaas-fn:env")
    gateway.reset()
    assert run_cli("env").code == 0
    assert gateway.summary() == ["POST /function/env 200"]


def test_remembered_function_with_exchange_refused_still_asking(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch, isolated_environment: Path
) -> None:
    gateway.add("env")
    assert run_cli("env").code == 0
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "somebody-else-entirely")
    gateway.reset()
    result = run_cli("env", input=b"x")
    assert result.code == 4
    assert "token exchange refused: invalid_request: No policies found" in result.err
    assert gateway.summary() == ["POST /oauth/token 400", "POST /function/env 401"]
    assert RememberedFunctions(Home(isolated_environment)).needs_auth(
        gateway.url, "openfaas-fn:env")


def test_no_login_is_exit_4_after_one_request(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASAUTH_SUBJECT_TOKEN")
    gateway.add("env")
    result = run_cli("env", input=b"x")
    assert result.code == 4
    assert f"not logged in to {gateway.url}" in result.err
    assert "faasauth auth" in result.err
    assert gateway.summary() == ["POST /function/env 401"]
    gateway.reset()
    result = run_cli("env", input=b"x")  # now remembered: still one request, same answer
    assert result.code == 4 and "not logged in" in result.err
    assert gateway.summary() == ["POST /function/env 401"]


def test_auth_flag_sends_the_token_first(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    result = run_cli("env", "--auth", input=b"x")
    assert result.code == 0
    assert gateway.summary() == ["POST /oauth/token 200", "POST /function/env 200 +token"]


def test_auth_flag_without_login_sends_nothing(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASAUTH_SUBJECT_TOKEN")
    gateway.add("env")
    result = run_cli("env", "--auth", input=b"x")
    assert result.code == 4 and "not logged in" in result.err
    assert gateway.requests == []


def test_async_with_auth(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    result = run_cli("env", "--async", "--auth", "-H", "X-Callback-Url: http://cb", input=b"x")
    assert result.code == 0
    assert result.out == b""
    assert result.err == "Function submitted asynchronously.\n"
    assert gateway.summary() == ["POST /oauth/token 200", "POST /async-function/env 202 +token"]
    call = gateway.requests[1]
    assert call.header("X-Callback-Url") == "http://cb" and call.body == b"x"


def test_async_of_a_remembered_function_sends_the_token(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    assert run_cli("env").code == 0
    gateway.reset()
    result = run_cli("env", "-a", input=b"x")
    assert result.code == 0
    assert gateway.summary() == ["POST /async-function/env 202 +token"]


def test_async_without_auth_warns_that_a_protected_function_refuses_later(
    gateway: FakeGateway, run_cli
) -> None:
    gateway.add("env")
    result = run_cli("env", "--async", input=b"x")
    assert result.code == 0  # the gateway queues it: 202 whatever the function needs
    lines = result.err.splitlines()
    assert lines[0] == (
        "faasauth: warning: --async without --auth: if openfaas-fn:env needs a function "
        "token, the queued call will be refused after the 202; add --auth to send one"
    )
    assert lines[1:] == ["Function submitted asynchronously."]
    assert gateway.summary() == ["POST /async-function/env 202"]


@pytest.mark.parametrize("how", [["--auth"], ["-H", "Authorization: Bearer mine"]])
def test_async_with_a_token_does_not_warn(gateway: FakeGateway, run_cli, how: list[str]) -> None:
    gateway.add("env")
    result = run_cli("env", "--async", *how, input=b"x")
    assert result.code == 0 and "warning" not in result.err


def test_async_of_a_remembered_function_does_not_warn(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    assert run_cli("env").code == 0
    result = run_cli("env", "--async", input=b"x")
    assert result.code == 0 and result.err == "Function submitted asynchronously.\n"


def _write_stack(namespace: str) -> None:
    Path("stack.yml").write_text(
        "version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n"
        f"  env:\n    image: env:latest\n    namespace: {namespace}\n"
    )


@pytest.mark.parametrize("source", ["flag", "env", "stack", "dotted"])
def test_namespace_in_url_audience_and_retry(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    gateway.add("env", namespace="dev")
    args = ["env"]
    if source == "flag":
        args += ["-n", "dev"]
    elif source == "env":
        monkeypatch.setenv("OPENFAAS_NS", "dev")
    elif source == "stack":
        _write_stack("dev")
    else:
        args = ["env.dev"]
    result = run_cli(*args, input=b"x")
    assert result.code == 0, result.err
    assert gateway.summary() == [
        "POST /function/env.dev 401", "POST /oauth/token 200", "POST /function/env.dev 200 +token"
    ]
    assert gateway.exchanges[0].form["audience"] == ["dev:env"]


def test_no_namespace_means_no_suffix_and_the_default_audience(
    gateway: FakeGateway, run_cli
) -> None:
    gateway.add("env")
    assert run_cli("env").code == 0
    assert gateway.calls()[0].path == "/function/env"
    assert gateway.exchanges[0].form["audience"] == ["openfaas-fn:env"]


def test_audience_override(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    result = run_cli("env", "--auth", "--audience", "openfaas-fn:*")
    assert result.code == 0, result.err
    assert gateway.exchanges[0].form["audience"] == ["openfaas-fn:*"]
    assert run_cli("env", "--audience", "nocolon").code == 2


def test_remembered_per_gateway_and_function(
    gateway: FakeGateway, run_cli, isolated_environment: Path
) -> None:
    gateway.add("env")
    gateway.add("env", namespace="dev")
    assert run_cli("env").code == 0
    assert run_cli("env", "-n", "dev").code == 0
    data = json.loads((isolated_environment / STATE_FILE).read_text())
    assert set(data["gateways"][gateway.url]) == {"openfaas-fn:env", "dev:env"}
    known = RememberedFunctions(Home(isolated_environment)).known()
    assert [(k.gateway, k.namespace, k.name) for k in known] == [
        (gateway.url, "dev", "env"), (gateway.url, "openfaas-fn", "env")
    ]
    assert oct((isolated_environment / STATE_FILE).stat().st_mode & 0o777) == "0o600"


def test_user_authorization_header_is_left_alone(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    result = run_cli("env", "-H", "Authorization: Bearer mine-1234567890")
    assert result.code == 4
    assert gateway.summary() == ["POST /function/env 401 +token"]
    assert gateway.requests[0].authorization == "Bearer mine-1234567890"


def test_a_redirect_to_another_origin_is_followed_without_the_token(
    gateway: FakeGateway, run_cli
) -> None:
    other = FakeGateway()
    try:
        other.add("env", protected=False)
        gateway.add("env", status=307, headers={"Location": other.url + "/function/env"})
        result = run_cli("env", input=b"x")
        assert (result.code, result.out) == (0, b"x"), result.err  # 307: the same body
        assert gateway.summary() == [
            "POST /function/env 401", "POST /oauth/token 200", "POST /function/env 307 +token"
        ]
        assert [(r.method, r.body, r.authorization) for r in other.requests] == [
            ("POST", b"x", None)]
        gateway.reset()
        other.reset()
        assert run_cli("env", "--auth", input=b"y").code == 0  # the token goes first
        assert gateway.summary() == ["POST /function/env 307 +token"]
        assert [(r.body, r.authorization) for r in other.requests] == [(b"y", None)]
    finally:
        other.close()


def test_a_redirect_on_the_same_origin_keeps_the_token(gateway: FakeGateway, run_cli) -> None:
    gateway.add("old", protected=False, status=308, headers={"Location": "/function/env"})
    gateway.add("env")
    result = run_cli("old", "--auth", "--audience", "openfaas-fn:env", "-v", input=b"z")
    assert (result.code, result.out) == (0, b"z"), result.err
    assert gateway.summary() == [
        "POST /oauth/token 200", "POST /function/old 308 +token", "POST /function/env 200 +token"]
    # -v shows each hop
    assert "/function/old" in result.err and "/function/env" in result.err
    assert "308" in result.err


@pytest.mark.parametrize("status", [301, 302, 303])
def test_301_302_303_turn_the_call_into_a_get_without_a_body(
    gateway: FakeGateway, run_cli, status: int
) -> None:
    gateway.add("moved", protected=False, status=status,
                headers={"Location": "/function/echo"})
    gateway.add("echo", protected=False)
    result = run_cli("moved", input=b"body")
    assert result.code == 0, result.err
    hop = gateway.requests[-1]
    assert (hop.method, hop.path, hop.body) == ("GET", "/function/echo", b"")


def test_a_redirect_loop_stops_after_ten_hops(gateway: FakeGateway, run_cli) -> None:
    gateway.add("loop", protected=False, status=302, headers={"Location": "/function/loop"})
    result = run_cli("loop", input=b"x")
    assert result.code == 3
    assert result.err.splitlines()[0].endswith("stopped after 10 redirects")
    assert len(gateway.requests) == 11


def test_plain_http_token_to_a_remote_host_warns(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faasauth.gateway.call import Invoker
    from faasauth.http import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("gateway.example.com") and not is_loopback("10.0.0.1")
    gateway.add("env")
    assert run_cli("env", "--auth").err == ""  # loopback: no warning
    monkeypatch.setattr("faasauth.gateway.call.is_loopback", lambda host: False)
    result = run_cli("env", "--auth")
    assert result.code == 0
    assert result.err == (
        "faasauth: warning: sending a function token over plain http to 127.0.0.1; use https\n"
    )
    assert Invoker  # imported for the patch target's sake


def test_a_function_that_is_not_there_is_the_gateways_404(gateway: FakeGateway, run_cli) -> None:
    result = run_cli("ecko", "-n", "dev", input=b"x")
    assert (result.code, result.out) == (1, b"")
    assert result.err.splitlines() == [
        f"faasauth: no function ecko in namespace dev at {gateway.url} (the gateway answered "
        "404: error finding function ecko.dev)",
        "hint: check the name, the namespace (-n, OPENFAAS_NS or the stack file) and the "
        "gateway (-g, OPENFAAS_URL); 'faas-cli list -n NAMESPACE' lists them",
    ]


def test_a_functions_own_404_is_its_answer(gateway: FakeGateway, run_cli) -> None:
    gateway.add("api", protected=False, status=404, body=b"error: no route /x\n")
    result = run_cli("api", input=b"x")
    assert (result.code, result.out) == (1, b"error: no route /x\n")
    assert result.err == "faasauth: openfaas-fn:api answered 404 Not Found\n"
