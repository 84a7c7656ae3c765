"""The sandbox's pytest plugin, as a user of the library would enable it."""

from faasauth.sandbox.pytest_plugin import (  # noqa: F401 (fixtures and the marker)
    faasauth_sandbox,
    faasauth_sandbox_env,
    faasauth_sandbox_factory,
    pytest_configure,
)
