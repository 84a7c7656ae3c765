"""The proxy in front of an HTTPS gateway (the sandbox with --tls): curl-style calls and a
handed-over `faasauth invoke` reuse the proxy's TLS connection: no handshake per call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from faasauth.sandbox import Sandbox

from .conftest import Running, faasauth

FAASAUTH = str(Path(sys.executable).parent / "faasauth")


@pytest.fixture
def tls_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    started = Sandbox(auto_approve=True, tls=True).start()
    for name, value in started.env().items():
        monkeypatch.setenv(name, value)
    assert started.gateway_url.startswith("https://")
    login = faasauth("auth")
    assert login.returncode == 0, login.stderr.decode()
    yield started
    started.stop()


def test_calls_over_https_share_the_proxys_connection(
    tls_sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    assert httpx.post(f"{proxy.url}/function/echo-auth", content=b"a").content == b"a"
    tls_sandbox.clear_requests()
    for n in range(3):
        result = subprocess.run([FAASAUTH, "invoke", "echo-auth"], input=b"%d" % n,
                                capture_output=True, env=proxy.env(), timeout=30)
        assert (result.returncode, result.stdout) == (0, b"%d" % n), result.stderr
        assert httpx.post(f"{proxy.url}/function/echo-auth", content=b"c").content == b"c"
    calls = [r for r in tls_sandbox.requests if r.origin == "gateway"]
    assert len(calls) == 6 and {r.token for r in calls} == {"function"}
    assert len({r.connection for r in calls}) == 1
    assert os.environ["SSL_CERT_FILE"]  # trust came from the environment, as for invoke
