"""Fixtures for the integration tests: a real OpenID provider (tests/idp/server.mjs).

Everything collected under tests/integration/ is marked ``integration``
(deselect with ``pytest -m "not integration"``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

# tests/idp_support.py lives one directory up; make it importable however pytest is invoked.
_TESTS_DIR = str(Path(__file__).resolve().parent.parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from idp_support import RealIdP, start_idp  # noqa: E402

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def real_idp() -> Iterator[RealIdP]:
    """One provider for the whole session: default options, device ``interval`` 1 s.

    Shared state: do not use it for tests that need special options; use ``idp_factory``.
    """
    with start_idp(interval=1) as idp:
        yield idp


@pytest.fixture
def idp_factory() -> Iterator[Callable[..., RealIdP]]:
    """``idp_factory(**options) -> RealIdP``: start a provider with special options.

    Options as for ``idp_support.start_idp`` (deviceCodeTtl, interval, slowDown, authMethods,
    accessTokenTtl, idTokenTtl, refreshTokenTtl). ``interval`` defaults to 1 here; pass
    ``interval=None`` for a server that sends no interval (clients must then wait 5 s).
    Every provider started is stopped at the end of the test.
    """
    started: list[RealIdP] = []

    def factory(**options: Any) -> RealIdP:
        options.setdefault("interval", 1)
        idp = start_idp(**options)
        started.append(idp)
        return idp

    yield factory
    for idp in started:
        idp.stop()
