"""The proxy keeps the last function token per audience for MEMO_SECONDS (no store read per
call): a logout, or another process's new token, is seen within that time."""

from __future__ import annotations

import time
from typing import Callable

import httpx
import pytest

MEMO_SECONDS = 1.0  # faasauth.proxy.forward.MEMO_SECONDS
from faasauth.sandbox import Sandbox

from .conftest import Running, faasauth


def test_a_logout_reaches_the_proxy_within_the_memo_time(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    for _ in range(3):
        assert httpx.post(f"{proxy.url}/function/echo-auth", content=b"hi").status_code == 200
    assert sandbox.count("/oauth/token") == 1
    assert faasauth("logout").returncode == 0
    time.sleep(MEMO_SECONDS + 0.2)
    after = httpx.post(f"{proxy.url}/function/echo-auth", content=b"hi")
    assert after.status_code == 401
    assert "faasauth auth" in after.text


def test_32_callers_at_once_keep_their_connections_for_the_next_round(
    start_proxy: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy keeps a connection per concurrent caller (httpx's default pool kept 20,
    and closed the rest after each call): a second round of 32 slow calls opens none."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from faasauth.sandbox.user_functions import exec_function

    slow = exec_function("slow", "sh -c 'sleep 0.5; cat'")
    with Sandbox(auto_approve=True, functions=[slow]) as sandbox:
        for name, value in sandbox.env().items():
            monkeypatch.setenv(name, value)
        assert faasauth("auth").returncode == 0
        proxy = start_proxy("--auth")
        barrier = threading.Barrier(32)

        def call(_: int) -> int:
            with httpx.Client(timeout=30) as client:
                barrier.wait()
                return client.post(f"{proxy.url}/function/slow", content=b"x").status_code

        def round_of_32() -> set[int]:
            sandbox.clear_requests()
            with ThreadPoolExecutor(32) as pool:
                assert set(pool.map(call, range(32))) == {200}
            return {r.connection for r in sandbox.requests if r.path == "/function/slow"}

        opened = round_of_32()
        assert len(opened) > 20  # the calls overlapped
        assert round_of_32() <= opened
