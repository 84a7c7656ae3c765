"""Fixtures for the ambient identity and faas-cli config tests: sandboxes playing CI."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faasauth.sandbox import Sandbox
from faasauth.sandbox.pytest_plugin import (  # noqa: F401 (fixtures, as the plugin gives them)
    faasauth_sandbox,
    faasauth_sandbox_factory,
    pytest_configure,
)


@pytest.fixture
def make_sandbox(faasauth_sandbox_factory: Callable[..., Sandbox]) -> Callable[..., Sandbox]:  # noqa: F811
    return faasauth_sandbox_factory
