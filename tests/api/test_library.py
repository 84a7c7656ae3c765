"""faasauth as a library (faasauth.api): FunctionAuth with httpx.Client and AsyncClient,
function_token and invoke, against the sandbox (a real HTTP gateway with IAM and an IdP)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import faasauth
from faasauth.sandbox import Sandbox



@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def env(faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's variables, a fresh FAASAUTH_HOME, and an IdP token as the subject."""
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", faasauth_sandbox.issue_idp_token())
    faasauth_sandbox.clear_requests()
    return dict(os.environ)


def calls(sandbox: Sandbox) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in sandbox.requests if r.origin == "gateway"]


FIRST = [("/function/echo-auth", 401), ("/oauth/token", 200), ("/function/echo-auth", 200)]


def test_first_call_probes_exchanges_and_retries_then_warm_calls_are_one_request(
    env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    auth = faasauth.FunctionAuth()
    with httpx.Client(base_url=faasauth_sandbox.gateway_url, auth=auth) as client:
        first = client.post("/function/echo-auth", content=b"hello")
        assert (first.status_code, first.text) == (200, "hello")
        assert calls(faasauth_sandbox) == FIRST
        faasauth_sandbox.clear_requests()
        warm = client.post("/function/echo-auth", content=b"again")
        assert (warm.status_code, warm.text) == (200, "again")
        assert calls(faasauth_sandbox) == [("/function/echo-auth", 200)]
    auth.close()


def test_unprotected_functions_and_other_hosts_never_get_a_token(
    env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    seen: list[httpx.Request] = []
    with httpx.Client(auth=faasauth.FunctionAuth(),
                      event_hooks={"request": [seen.append]}) as client:
        assert client.post(f"{faasauth_sandbox.gateway_url}/function/echo", content=b"x").text == "x"
        other = faasauth_sandbox.gateway_url.replace("127.0.0.1", "localhost")
        assert client.post(f"{other}/function/echo-auth", content=b"x").status_code == 401
    assert all("authorization" not in r.headers for r in seen)
    assert faasauth_sandbox.count("/oauth/token") == 0


def test_a_403_reaches_the_caller_untouched(env: dict[str, str], faasauth_sandbox: Sandbox) -> None:
    # A token narrowed to another function: the watchdog answers 403, which is final.
    auth = faasauth.FunctionAuth(audience="openfaas-fn:env-auth")
    with httpx.Client(base_url=faasauth_sandbox.gateway_url, auth=auth) as client:
        answer = client.post("/function/echo-auth", content=b"x")
    assert answer.status_code == 403
    assert answer.text == "insufficient permissions\n"
    assert calls(faasauth_sandbox)[-1] == ("/function/echo-auth", 403)


def test_a_rotated_signing_key_is_recovered_once(
    env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    with httpx.Client(base_url=faasauth_sandbox.gateway_url,
                      auth=faasauth.FunctionAuth()) as client:
        assert client.post("/function/echo-auth", content=b"1").status_code == 200
        faasauth_sandbox.rotate_gateway_key()
        faasauth_sandbox.restart_watchdogs()  # the function restarts: only the new key now
        faasauth_sandbox.clear_requests()
        answer = client.post("/function/echo-auth", content=b"2")
    assert (answer.status_code, answer.text) == (200, "2")
    assert calls(faasauth_sandbox) == [
        ("/function/echo-auth", 401), ("/oauth/token", 200), ("/function/echo-auth", 200)
    ]


def test_a_streamed_body_is_replayed_byte_for_byte(
    env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    chunks = [os.urandom(300_000) for _ in range(5)]  # more than the in-memory spool

    def body() -> Iterator[bytes]:
        yield from chunks

    with httpx.Client(base_url=faasauth_sandbox.gateway_url,
                      auth=faasauth.FunctionAuth()) as client:
        answer = client.post("/function/echo-auth", content=body())
    assert answer.status_code == 200
    assert answer.content == b"".join(chunks)
    assert calls(faasauth_sandbox) == FIRST


def test_redirects_carry_no_token_to_another_origin(
    env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    # No OpenFaaS gateway redirects a function call, so this one is played by a mock
    # transport; the exchange itself goes to the real sandbox.
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "elsewhere.example":
            return httpx.Response(200, text="elsewhere")
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate":
                                                "Bearer realm=IAM function invoke"})
        return httpx.Response(307, headers={"Location": "https://elsewhere.example/x"})

    with httpx.Client(base_url=faasauth_sandbox.gateway_url, auth=faasauth.FunctionAuth(),
                      transport=httpx.MockTransport(gateway), follow_redirects=True) as client:
        answer = client.post("/function/echo-auth", content=b"x")
    assert answer.text == "elsewhere"
    assert [("authorization" in r.headers, r.url.host) for r in seen] == [
        (False, "127.0.0.1"), (True, "127.0.0.1"), (False, "elsewhere.example")
    ]


def test_two_threads_share_one_exchange(env: dict[str, str], faasauth_sandbox: Sandbox) -> None:
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=faasauth_sandbox.gateway_url,
                          auth=faasauth.FunctionAuth()) as client:
            barrier.wait()
            answers.append(client.post("/function/echo-auth", content=b"t").status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200, 200]
    assert faasauth_sandbox.count("/oauth/token") == 1


def test_two_processes_share_one_exchange(env: dict[str, str], faasauth_sandbox: Sandbox) -> None:
    script = "import faasauth; print(faasauth.invoke('echo-auth', b'p').status_code)"
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [o.strip() for o, _ in outs] == ["200", "200"], [e for _, e in outs]
    assert all(not e for _, e in outs)  # nothing printed
    assert faasauth_sandbox.count("/oauth/token") == 1


def test_function_token_shares_the_cli_cache(env: dict[str, str], faasauth_sandbox: Sandbox) -> None:
    token = faasauth.function_token("openfaas-fn:echo-auth")
    cli = subprocess.run([sys.executable, "-m", "faasauth", "exchange", "-a",
                          "openfaas-fn:echo-auth"], env=env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == token
    assert faasauth_sandbox.count("/oauth/token") == 1


def test_invoke_returns_the_answer_and_uses_one_connection(
    env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    answer = faasauth.invoke("echo-auth", b"hi")
    assert (answer.status_code, answer.text) == (200, "hi")
    assert calls(faasauth_sandbox) == FIRST
    # Probe, exchange and retry on one connection: the probe's 401 is read (at most
    # 64 KiB) before the exchange, so the connection goes back to the pool for it.
    connections = {r.connection for r in faasauth_sandbox.requests if r.origin == "gateway"}
    assert len(connections) == 1
    refused = faasauth.invoke("echo-auth.nowhere", b"hi")  # no such namespace
    assert refused.status_code >= 400


def test_without_a_login_the_error_is_faasauths(
    faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    with pytest.raises(faasauth.NotLoggedIn) as raised:
        faasauth.invoke("echo-auth", b"hi")
    assert raised.value.exit_code == 4
    assert faasauth_sandbox.count("/function/echo-auth") == 1  # the probe, nothing more


def test_client_credentials_as_the_subject(
    faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    subject = faasauth.ClientCredentials(faasauth_sandbox.authority, faasauth_sandbox.client_id)
    assert "secret" not in repr(subject).lower().replace("client_secret", "")
    answer = faasauth.invoke("echo-auth", b"cc", subject=subject)
    assert (answer.status_code, answer.text) == (200, "cc")


def test_a_callable_and_a_token_file_as_the_subject(
    faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox, tmp_path: Path
) -> None:
    token = faasauth_sandbox.issue_idp_token()
    assert faasauth.invoke("echo-auth", b"a", subject=lambda: token).status_code == 200
    path = tmp_path / "token"
    path.write_text(faasauth_sandbox.issue_idp_token(sub="someone-else") + "\n")
    assert faasauth.invoke("echo-auth", b"b", subject=faasauth.TokenFile(str(path))).text == "b"
    assert faasauth_sandbox.count("/oauth/token") == 2  # two identities, two exchanges


@pytest.mark.anyio
async def test_async_client_first_and_warm(env: dict[str, str], faasauth_sandbox: Sandbox) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"async "
        yield b"body"

    async with httpx.AsyncClient(base_url=faasauth_sandbox.gateway_url,
                                 auth=faasauth.FunctionAuth()) as client:
        first = await client.post("/function/echo-auth", content=body())
        assert (first.status_code, first.text) == (200, "async body")
        assert calls(faasauth_sandbox) == FIRST
        faasauth_sandbox.clear_requests()
        warm = await client.post("/function/echo-auth", content=b"warm")
        assert (warm.status_code, warm.text) == (200, "warm")
        assert calls(faasauth_sandbox) == [("/function/echo-auth", 200)]
        forbidden = await client.post("/function/env", content=b"")
        assert forbidden.status_code == 200  # unprotected: untouched, no token


def test_import_faasauth_stays_light() -> None:
    code = ("import sys, faasauth; heavy = [m for m in ('httpx', 'rich', 'keyring', 'yaml', "
            "'jwt', 'click') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.faasauth_sandbox(ci="github", ci_token_ttl=600)
def test_ambient_github_identity_as_the_subject(
    faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    auth = faasauth.FunctionAuth(subject=faasauth.Ambient())
    with httpx.Client(base_url=faasauth_sandbox.gateway_url, auth=auth) as client:
        assert client.post("/function/echo-auth", content=b"1").text == "1"
        assert client.post("/function/echo-auth", content=b"2").text == "2"
    # One CI token, one exchange: the source's identity is stable, so the cache holds.
    assert faasauth_sandbox.ci.minted == 1
    assert faasauth_sandbox.count("/oauth/token") == 1


def test_ambient_without_a_platform_says_what_it_looked_for(
    faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox, tmp_path: Path
) -> None:
    subject = faasauth.Ambient(token_file=str(tmp_path / "none"))
    with pytest.raises(faasauth.LoginFailed) as raised:
        faasauth.function_token("openfaas-fn:echo-auth", subject=subject)
    assert "GitHub Actions" in raised.value.message and raised.value.exit_code == 4


def test_the_example_file_runs_against_the_sandbox(
    faasauth_sandbox_env: dict[str, str], faasauth_sandbox: Sandbox
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "library.py"
    env = dict(os.environ)
    login = subprocess.run([sys.executable, "-m", "faasauth", "auth"], env=env,
                           capture_output=True, text=True)
    assert login.returncode == 0, login.stderr
    run = subprocess.run([sys.executable, str(example)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "hello from httpx", "call 0, call 1, call 2", "hello from faasauth.invoke",
        run.stdout.splitlines()[3],
    ]
    assert run.stdout.splitlines()[3].startswith("a function token of ")
    # One exchange for everything: one identity, one audience (openfaas-fn:echo-auth).
    assert faasauth_sandbox.count("/oauth/token") == 1
