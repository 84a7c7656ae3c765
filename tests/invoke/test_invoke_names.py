"""Function names and namespaces (issue 22 item 24): what faas-cli would not deploy is
refused before anything is sent, with the rule in the message; NAME.NAMESPACE is read as
the gateway reads it. One rule: faasauth.config.names."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from faasauth.config.names import function_and_namespace, is_label, split_service
from faasauth.errors import UsageFailure

from .fake_gateway import FakeGateway

RULE = ("a DNS-1123 label (what faas-cli deploys): at most 63 characters of a-z, 0-9 and '-', "
        "beginning and ending with a letter or digit")


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (["a/b"], [f"faasauth: invalid function name 'a/b': a function name is {RULE}",
                   "hint: invoke calls /function/NAME; for a path below it, send the request "
                   "yourself with a token from 'faasauth exchange'"]),
        (["Figlet"], [f"faasauth: invalid function name 'Figlet': a function name is {RULE}"]),
        (["-fig"], None),  # click takes it for an option: its own usage error
        (["fig-"], [f"faasauth: invalid function name 'fig-': a function name is {RULE}"]),
        (["a" * 64], [f"faasauth: invalid function name '{'a' * 64}': a function name is {RULE}"]),
        (["env.dev", "-n", "prod"],
         [f"faasauth: invalid function name 'env.dev': a function name is {RULE}",
          "hint: the namespace came from -n: give the name alone, or NAME.NAMESPACE without it"]),
        (["a.b.c"], [f"faasauth: invalid function name 'a.b': a function name is {RULE}",
                     "hint: NAME.NAMESPACE has one dot: the namespace is what follows the last "
                     "one"]),
        (["env.Dev"], [f"faasauth: invalid namespace 'Dev' (from 'env.Dev'): a namespace is {RULE}"]),
        (["env", "-n", "dev_1"],
         [f"faasauth: invalid namespace 'dev_1' (from -n): a namespace is {RULE}"]),
    ],
)
def test_names_faas_cli_would_not_deploy_are_refused_before_sending(
    gateway: FakeGateway, run_cli, args: list[str], lines: list[str] | None
) -> None:
    gateway.add("env")
    result = run_cli(*args, input=b"x")
    assert (result.code, result.out) == (2, b"")
    if lines is not None:
        assert result.err.splitlines() == lines
    assert gateway.requests == []


def test_a_namespace_left_as_written_by_no_envsubst(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NS", "dev")
    Path("stack.yml").write_text("functions:\n  env:\n    namespace: ${NS}\n")
    gateway.add("env", "dev", protected=False)
    assert run_cli("env", input=b"x").code == 0
    assert gateway.calls()[-1].path == "/function/env.dev"
    gateway.reset()
    result = run_cli("env", "--no-envsubst", input=b"x")
    assert result.code == 2
    assert result.err.splitlines() == [
        "faasauth: invalid namespace '${NS}' (from stack.yml's functions.env.namespace): a "
        f"namespace is {RULE}",
        "hint: a ${VARIABLE} left as written: --no-envsubst does not substitute the stack file",
    ]
    assert gateway.requests == []


def test_an_environment_namespace_is_checked_and_named(
    gateway: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENFAAS_NS", "Team A")
    result = run_cli("env")
    assert result.code == 2
    assert result.err == (f"faasauth: invalid namespace 'Team A' (from OPENFAAS_NS): a namespace "
                          f"is {RULE}\n")


@pytest.mark.parametrize(("args", "path"), [
    (["env"], "/function/env"),
    (["env.dev"], "/function/env.dev"),
    (["env", "-n", "dev"], "/function/env.dev"),
    (["0env-1", "-n", "a" * 63], f"/function/0env-1.{'a' * 63}"),
])
def test_valid_names_go_out_as_before(gateway: FakeGateway, run_cli, args: list[str],
                                      path: str) -> None:
    result = run_cli(*args)
    assert result.code == 1  # the fake gateway knows none of them: its 404, after the call
    assert gateway.requests[0].path == path


def test_the_rule_and_the_split() -> None:
    assert is_label("figlet") and is_label("a") and is_label("9-b") and is_label("a" * 63)
    assert not any(is_label(text) for text in ("", "A", "a_b", "a.b", "-a", "a-", "a" * 64,
                                               "é", "a b"))
    assert split_service("env.dev") == ("env", "dev")
    assert split_service("a.b.c") == ("a.b", "c")  # the gateway's rule: the last dot
    assert split_service("env") == ("env", None)
    assert function_and_namespace("env.dev", None) == ("env", "dev")
    assert function_and_namespace("env", "prod", "-n") == ("env", "prod")
    with pytest.raises(UsageFailure, match="invalid function name 'env.dev'"):
        function_and_namespace("env.dev", "prod", "-n")


def test_function_auth_reads_a_url_as_the_gateway_does() -> None:
    from faasauth.gateway.function_auth import function_target

    gateway = httpx.URL("http://gw:8080")
    assert function_target(httpx.URL("http://gw:8080/function/env.dev/x"), gateway) == (
        "dev:env", False)
    assert function_target(httpx.URL("http://gw:8080/function/a.b.c"), gateway) == (
        "c:a.b", False)


def test_the_library_refuses_them_too(gateway: FakeGateway) -> None:
    import faasauth

    with pytest.raises(UsageFailure, match=r"^invalid function name 'a/b'"):
        faasauth.invoke("a/b", b"x", gateway=gateway.url)
    assert gateway.requests == []
