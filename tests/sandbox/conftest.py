"""Fixtures for the sandbox tests: started sandboxes, an HTTP client, a fake clock.

- `make_sandbox(**options)`: a started `Sandbox`, stopped after the test (the plugin's factory).
- `sb`: a default sandbox; `client`: an httpx.Client; `clock`: a FakeClock to pass as `clock=`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from faasauth.sandbox import Sandbox
from faasauth.sandbox.pytest_plugin import (  # noqa: F401 (fixtures and the marker, as the plugin gives them)
    faasauth_sandbox,
    faasauth_sandbox_factory,
    pytest_configure,
)
from sandbox.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sandbox(faasauth_sandbox_factory: Callable[..., Sandbox]) -> Callable[..., Sandbox]:  # noqa: F811
    return faasauth_sandbox_factory


@pytest.fixture
def sb(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c
