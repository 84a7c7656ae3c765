"""What `faasauth --version` prints: the lines a bug report needs.

Cheap by design (it is on the same path as `--help`): versions come from package metadata,
not from importing the packages, and the store line reads the remembered choice of the token
store from the home directory without importing keyring or probing the OS keyring.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Mapping

from faasauth._version import __version__

# pyproject.toml's [project.urls] Issues (tests/foundation/test_cli.py keeps them equal):
# where the internal-error hint sends a bug report.
ISSUES_URL = "https://github.com/faasauth/faasauth/issues"


def version_lines(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    return [
        f"faasauth {__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.executable or 'unknown executable'})",
        f"httpx {_distribution_version('httpx')}",
        f"platform {platform.system()} {platform.release()} {platform.machine()}",
        f"store {store_line(env)}",
    ]


def _distribution_version(name: str) -> str:
    # The installed `<name>-<version>.dist-info` directory on sys.path names the version, as
    # importlib.metadata would find it, without importing that (about 35 ms) or the package.
    prefix = f"{name}-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for found in names:
            if found.lower().startswith(prefix) and found.endswith(".dist-info"):
                return found[len(prefix):-len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def store_line(env: Mapping[str, str]) -> str:
    """Which token store commands use and why, as far as it is known without asking a keyring."""
    from pathlib import Path

    from faasauth.config.settings import STORE_BACKENDS, default_home

    home_value = env.get("FAASAUTH_HOME")
    home = Path(home_value).expanduser() if home_value else default_home()
    backend = (env.get("FAASAUTH_TOKEN_STORE") or "auto").strip().lower()
    if backend not in STORE_BACKENDS:
        return f"invalid FAASAUTH_TOKEN_STORE={backend!r} (use one of {', '.join(STORE_BACKENDS)})"
    if backend != "auto":
        return f"{backend} (FAASAUTH_TOKEN_STORE={backend}), home {home}"

    from faasauth.store.choice import BACKEND_STATE, remembered_reason
    from faasauth.store.home import Home

    remembered = Home(home).read_state(BACKEND_STATE)
    chosen = remembered.get("backend")
    if chosen in ("file", "keyring"):
        reason = remembered_reason(remembered)
        return f"{chosen} ({reason}), home {home}"
    return (
        f"auto, not chosen yet (the first command that keeps a token tries the OS keyring), "
        f"home {home}"
    )
