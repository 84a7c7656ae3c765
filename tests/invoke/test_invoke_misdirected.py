"""A gateway URL (-g) that points at the wrong place (issue 22 items 7 and 12): a redirect
to another origin, where the token is never sent, names the redirect and the -g to give;
a 404 from something that is not an OpenFaaS gateway is a message, not the output."""

from __future__ import annotations

import pytest

from faasauth.sandbox import Sandbox

from .fake_gateway import FakeGateway


@pytest.fixture
def other() -> FakeGateway:
    fake = FakeGateway()
    yield fake
    fake.close()


def redirect_message(gateway: str, to: str) -> str:
    return (f"faasauth: openfaas-fn:env: the gateway {gateway} redirected the call to {to}, "
            "another origin, which asks for a function token; faasauth sends tokens only to "
            "the gateway's own origin, so none was sent")


def test_a_redirect_to_a_protected_function_elsewhere_names_it(
    gateway: FakeGateway, other: FakeGateway, run_cli
) -> None:
    other.add("env")
    gateway.add("env", protected=False, status=307,
                headers={"Location": other.url + "/function/env"})
    for _ in range(2):  # not remembered as needing a token: a token would never get there
        result = run_cli("env", "-v", input=b"x")
        assert (result.code, result.out) == (2, b"")
        assert result.err.splitlines()[-2:] == [redirect_message(gateway.url, other.url + "/function/env"),
                         f"hint: if {other.url} is the gateway, pass -g {other.url}"]
        assert "exchanging afresh" not in result.err and "watchdog" not in result.err
        assert (f"faasauth: openfaas-fn:env: the challenge came from {other.url}/function/env, "
                "another origin, which a token is never sent to; none asked for") in result.err
        assert gateway.summary() == ["POST /function/env 307"]  # no exchange, no retry
        assert other.summary() == ["POST /function/env 401"]
        gateway.reset()
        other.reset()


def test_a_cached_token_is_not_exchanged_afresh_when_a_redirect_dropped_it(
    gateway: FakeGateway, other: FakeGateway, run_cli
) -> None:
    gateway.add("env")
    assert run_cli("env", input=b"x").code == 0  # remembered, and a token cached
    other.add("env")
    gateway.add("env", protected=False, status=308,
                headers={"Location": other.url + "/function/env"})
    gateway.reset()
    result = run_cli("env", "-v", input=b"x")
    assert result.code == 2
    assert redirect_message(gateway.url, other.url + "/function/env") in result.err
    assert "refused the cached token" not in result.err
    assert gateway.summary() == ["POST /function/env 308 +token"]  # the cached one, once
    assert other.summary() == ["POST /function/env 401"]  # httpx dropped it on the way


def test_an_http_gateway_redirected_to_https_is_told_to_use_https(
    gateway: FakeGateway, run_cli
) -> None:
    secure = Sandbox(tls=True).start()
    try:
        target = secure.gateway_url + "/function/echo-auth"
        gateway.add("env", protected=False, status=308, headers={"Location": target})
        assert secure.ca_file is not None
        result = run_cli("env", "--cacert", secure.ca_file, input=b"x")
        assert result.code == 2
        assert result.err.splitlines() == [
            redirect_message(gateway.url, target),
            f"hint: the gateway redirects http to https: pass -g {secure.gateway_url}",
        ]
        assert secure.count("/oauth/token") == 0
    finally:
        secure.stop()


def test_the_same_redirect_to_an_open_function_still_answers(
    gateway: FakeGateway, other: FakeGateway, run_cli
) -> None:
    other.add("env", protected=False)
    gateway.add("env", protected=False, status=307,
                headers={"Location": other.url + "/function/env"})
    result = run_cli("env", input=b"x")
    assert (result.code, result.out, result.err) == (0, b"x", "")


# -- 12. -g at something that is not a gateway ------------------------------------------


def test_g_at_the_identity_provider_is_said_not_printed(run_cli) -> None:
    sandbox = Sandbox().start()
    try:
        result = run_cli("env", "-g", sandbox.authority, input=b"x")
    finally:
        sandbox.stop()
    assert (result.code, result.out) == (1, b"")
    lines = result.err.splitlines()
    assert lines[0].startswith(f"faasauth: openfaas-fn:env: {sandbox.authority} answered 404 ")
    assert lines[0].endswith(" without the headers an OpenFaaS gateway sends: -g may not be an "
                             "OpenFaaS gateway")
    assert lines[1] == ("hint: check the gateway URL (it came from -g): the gateway's port, not "
                        "the identity provider's or another server's")


def test_a_plain_web_servers_404_page_is_not_the_output(httpserver, run_cli) -> None:
    httpserver.expect_request("/function/env").respond_with_data(
        "<html><body>Not Found</body></html>\n", status=404, content_type="text/html")
    result = run_cli("env", "-g", httpserver.url_for("/").rstrip("/"), input=b"x")
    assert (result.code, result.out) == (1, b"")
    assert "answered 404 NOT FOUND (<html><body>Not Found</body></html>) without the headers" in (
        result.err)


def test_a_functions_own_404_through_the_gateway_is_still_its_answer(
    gateway: FakeGateway, run_cli
) -> None:
    gateway.add("api", protected=False, status=404, body=b"no route /x\n")
    result = run_cli("api", input=b"x")
    assert (result.code, result.out) == (1, b"no route /x\n")
    assert result.err == "faasauth: openfaas-fn:api answered 404 Not Found\n"


def test_the_sandbox_gateways_own_answers_keep_their_meaning(run_cli) -> None:
    sandbox = Sandbox().start()
    try:
        result = run_cli("nope", "-g", sandbox.gateway_url, input=b"x")
        assert result.code == 1 and result.out == b""
        assert result.err.startswith("faasauth: no function nope in namespace openfaas-fn at ")
        assert run_cli("echo", "-g", sandbox.gateway_url, input=b"hi").out == b"hi"
    finally:
        sandbox.stop()
