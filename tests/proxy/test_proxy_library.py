"""The library through a running proxy: `faasauth.invoke(proxy=...)` and
`faasauth.FunctionAuth(proxy=...)` send the gateway's requests over the proxy's kept
connections; without a proxy, `proxy=True` is a clear error and None goes direct."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import httpx
import pytest

import faasauth
from faasauth.errors import UsageFailure
from faasauth.sandbox import Sandbox

from .conftest import Running


def test_invoke_goes_over_the_proxys_connection(
    sandbox: Sandbox, start_proxy: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = start_proxy()
    assert httpx.post(f"{proxy.url}/function/echo-auth", content=b"warm").status_code == 200
    kept = {r.connection for r in sandbox.requests if r.path == "/function/echo-auth"}
    monkeypatch.setenv("FAASAUTH_PROXY", proxy.socket)
    sandbox.clear_requests()
    for n in range(3):
        answer = faasauth.invoke("echo-auth", b"lib %d" % n)
        assert (answer.status_code, answer.content) == (200, b"lib %d" % n)
    calls = [r for r in sandbox.requests if r.origin == "gateway"]
    assert [(r.path, r.token) for r in calls] == [("/function/echo-auth", "function")] * 3
    assert {r.connection for r in calls} <= kept  # no new connection to the gateway
    assert proxy.log_with("token=relay", 3).count("token=relay") == 3


def test_proxy_true_finds_the_gateways_own_proxy_without_the_variable(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    answer = faasauth.invoke("echo-auth", b"own", proxy=True)
    assert answer.content == b"own"
    assert "token=relay" in proxy.log_with("token=relay")


def test_proxy_true_without_one_is_a_clear_error(sandbox: Sandbox) -> None:
    with pytest.raises(UsageFailure) as raised:
        faasauth.invoke("echo-auth", b"x", proxy=True)
    assert raised.value.message == f"no faasauth proxy serves {sandbox.gateway_url}"
    assert "faasauth proxy --background" in (raised.value.hint or "")


def test_a_stale_variable_goes_direct(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAASAUTH_PROXY", str(tmp_path / "gone.sock"))
    assert faasauth.invoke("echo-auth", b"direct").content == b"direct"


def test_function_auth_exchanges_through_the_proxy(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    auth = faasauth.FunctionAuth(proxy=True, always=True)
    try:
        with httpx.Client(auth=auth) as client:
            answer = client.post(f"{sandbox.gateway_url}/function/echo-auth", content=b"fa")
    finally:
        auth.close()
    assert answer.content == b"fa"
    assert "POST /oauth/token 200 token=relay" in proxy.log_with(
        "POST /oauth/token 200 token=relay")
    assert os.environ.get("_FAASAUTH_RELAY") is None  # nothing leaks into the process
