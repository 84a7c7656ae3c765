"""pytest fixtures for testing code against a faasauth sandbox (opt-in).

Enable it in your top-level conftest.py (or with `pytest -p faasauth.sandbox.pytest_plugin`):

    pytest_plugins = ["faasauth.sandbox.pytest_plugin"]

Fixtures:

    faasauth_sandbox       a started `Sandbox`, new for each test, stopped afterwards.
                           Options come from the marker, as Sandbox keyword arguments:
                           @pytest.mark.faasauth_sandbox(auto_approve=True, latency_ms=50)
    faasauth_sandbox_env   the sandbox's variables set in os.environ for the test (its
                           `env()`: a throw-away FAASAUTH_HOME and FAASAUTH_TOKEN_STORE=file
                           among them); the dict
    faasauth_sandbox_factory
                           a callable: factory(**Sandbox options) -> started Sandbox, all
                           stopped at the end of the test

Example:

    import httpx

    @pytest.mark.faasauth_sandbox(auto_approve=True)
    def test_protected_function(faasauth_sandbox):
        token = faasauth_sandbox.issue_function_token(["openfaas-fn:echo-auth"])
        answer = httpx.post(f"{faasauth_sandbox.gateway_url}/function/echo-auth",
                            content=b"hi", headers={"Authorization": f"Bearer {token}"})
        assert answer.text == "hi"
        assert faasauth_sandbox.count("/function/echo-auth", status=200) == 1

Your own function behind IAM: a command in the marker, or your server's URL in the factory
(sandbox/user_functions.py; both jwt_auth unless `jwt_auth=False`):

    from faasauth.sandbox.user_functions import exec_function, http_function

    @pytest.mark.faasauth_sandbox(functions=[exec_function("shout", "tr a-z A-Z")])
    def test_shout(faasauth_sandbox): ...

    def test_my_handler(my_server_url, faasauth_sandbox_factory):
        sb = faasauth_sandbox_factory(functions=[http_function("hello", my_server_url)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from faasauth.sandbox.core import Sandbox

MARKER = "faasauth_sandbox"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): Sandbox keyword arguments for the faasauth_sandbox fixture",
    )


@pytest.fixture
def faasauth_sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def factory(**options: Any) -> Sandbox:
        sandbox = Sandbox(**options).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def faasauth_sandbox(
    request: pytest.FixtureRequest, faasauth_sandbox_factory: Callable[..., Sandbox]
) -> Sandbox:
    marker = request.node.get_closest_marker(MARKER)
    return faasauth_sandbox_factory(**(marker.kwargs if marker else {}))


@pytest.fixture
def faasauth_sandbox_env(
    faasauth_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = faasauth_sandbox.env()  # its throw-away FAASAUTH_HOME and the file store included
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
