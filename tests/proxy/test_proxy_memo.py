"""The proxy keeps the last function token per audience for MEMO_SECONDS (no store read per
call): a logout, or another process's new token, is seen within that time."""

from __future__ import annotations

import time
from typing import Callable

import httpx

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
