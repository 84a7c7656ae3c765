"""The proxy with an ambient login from a token file (a pod's projected service-account
token): a file that can no longer give a login is a 401 whose body says what to run, not a
500; the IdP or gateway failing stays a 502 (test_proxy_calls.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from faasauth.sandbox import Sandbox
from proxy.conftest import Running, faasauth


@pytest.fixture
def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, Path]]:
    """A sandbox playing Kubernetes; this process logged in from its token file with
    `faasauth auth --ambient`, the token living 20 s (always within the renewal margin,
    so every exchange reads the file again, as near a real expiry)."""
    path = tmp_path / "var/secrets/tokens/openfaas-token"
    sb = Sandbox(ci="kubernetes", ci_token_ttl=600, ci_token_file=path).start()
    monkeypatch.setenv("OPENFAAS_URL", sb.gateway_url)
    sb.ci.token_ttl = 20
    sb.ci.rotate()
    login = faasauth("auth", "--ambient", "--token-file", str(path))
    assert login.returncode == 0, login.stderr.decode()
    yield sb, path
    sb.stop()


def _expired(sb: Sandbox) -> str:
    return sb.ci.mint(exp=int(time.time()) - 60)


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda sb, path: path.unlink(), "cannot read the token file {path}: No such file or directory"),
    (lambda sb, path: path.write_text("garbage"), "the token file {path} does not hold a JWT"),
    (lambda sb, path: path.write_text(_expired(sb)), "has already expired"),
])
def test_a_token_file_that_gives_no_login_is_a_401_saying_what_to_run(
    pod: tuple[Sandbox, Path], start_proxy: Callable[..., Running],
    damage: Callable[[Sandbox, Path], object], problem: str,
) -> None:
    sb, path = pod
    proxy = start_proxy()
    assert httpx.post(f"{proxy.url}/function/echo-auth", content=b"hi").status_code == 200
    damage(sb, path)
    answer = httpx.post(f"{proxy.url}/function/env-auth", content=b"")  # a new exchange
    assert answer.status_code == 401, answer.text
    lines = answer.text.splitlines()
    assert lines[0].startswith(f"faasauth proxy: renewing the login for {sb.gateway_url}: ")
    assert problem.format(path=path) in lines[0]
    assert lines[1] == (f"hint: run: faasauth auth -g {sb.gateway_url} --ambient "
                        f"--token-file {path}")
    assert len(lines) == 2
    assert "www-authenticate" not in answer.headers
    # The call's log line is written just after its answer is sent: give it a moment.
    deadline = time.monotonic() + 5
    while "token=none" not in proxy.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "token=none" in proxy.log() and "Traceback" not in proxy.log()
    # the kubelet writes a good token again: the next call works, no restart needed
    sb.ci.rotate()
    again = httpx.post(f"{proxy.url}/function/env-auth", content=b"")
    assert again.status_code == 200, again.text
    assert os.path.exists(path)


def test_the_renewal_says_it_once_on_stderr_with_what_to_run(pod: tuple[Sandbox, Path]) -> None:
    import threading

    from faasauth.config.settings import resolve_settings
    from faasauth.proxy.forward import Forwarder
    from faasauth.proxy.renewal import Renewal
    from faasauth.runtime import Runtime

    sb, path = pod
    forwarder = Forwarder(Runtime(resolve_settings(gateway=sb.gateway_url)))
    forwarder.tokens("openfaas-fn:echo-auth")
    said: list[str] = []
    renewal = Renewal(forwarder, said.append, threading.Event())
    path.unlink()
    for _ in range(3):
        renewal.once()
    assert said == [
        f"cannot renew the tokens: renewing the login for {sb.gateway_url}: cannot read the "
        f"token file {path}: No such file or directory (hint: run: faasauth auth -g "
        f"{sb.gateway_url} --ambient --token-file {path})"
    ]
    sb.ci.rotate()
    renewal.once()
    assert said[1:] == ["tokens renewed again"]
    forwarder.rt.close()
