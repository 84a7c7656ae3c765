"""A backend whose *detection* hangs (its `priority` blocks), as a Secret Service does when
the session bus accepts the connection but never answers.

Kept apart from keyring_backends.py: importing it registers the class with keyring, and any
in-process backend detection would then block. Only subprocesses import it, through
PYTHON_KEYRING_BACKEND=foundation.keyring_hang_detect.HangingDetectionKeyring.
"""

from __future__ import annotations

import time

from keyring.backend import KeyringBackend

try:
    from keyring.compat import properties
except ImportError:  # keyring < 25 has it from jaraco.classes, its dependency then
    from jaraco.classes import properties  # type: ignore[no-redef]

from foundation.keyring_backends import unregistered


@unregistered
class HangingDetectionKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805
        time.sleep(60)
        return 5

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        return None

    def delete_password(self, service: str, username: str) -> None:
        return None
