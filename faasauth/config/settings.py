"""One resolver for every setting: flag > environment > stack.yml > default.

Kept free of heavy imports: PyYAML is loaded only when a stack file exists and is needed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, get_args
from urllib.parse import urlsplit

from faasauth.errors import UsageFailure

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_NAMESPACE = "openfaas-fn"
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 86400.0
STACK_FILES = ("stack.yml", "stack.yaml")
StoreBackend = Literal["auto", "keyring", "file", "none"]
STORE_BACKENDS: tuple[StoreBackend, ...] = get_args(StoreBackend)


def normalise_gateway(url: str) -> str:
    """faas-cli's normalisation: lower-case, no trailing slash, http:// when no scheme."""
    url = url.strip().lower().rstrip("/")
    if not url:
        raise UsageFailure("the gateway URL is empty")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise UsageFailure(f"unsupported gateway URL scheme: {url.split('://', 1)[0]}")
    # Reject here what the HTTP client would only reject later, as an internal error.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise UsageFailure(f"invalid gateway URL {url}: {exc}") from None
    if not parts.hostname or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UsageFailure(f"invalid gateway URL: {url}")
    return url


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("faasauth", appauthor=False))


@dataclass(frozen=True)
class Settings:
    gateway: str = DEFAULT_GATEWAY
    namespace: str | None = None
    home: Path = field(default_factory=default_home)
    store_backend: StoreBackend = "auto"
    tls_verify: bool = True
    cacert: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    verbose: bool = False

    @property
    def function_namespace(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# Secrets faasauth reads from the environment: a stack file (someone else's, perhaps) must
# not be able to move them into a URL, so ${VAR} stays as written for these.
SECRET_VARIABLES = frozenset({
    "FAASAUTH_CLIENT_SECRET", "FAASAUTH_SUBJECT_TOKEN", "FAASAUTH_ID_TOKEN", "FAASAUTH_SIGN_KEY",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "OPENFAAS_ID_TOKEN",
})


def _expand_env(text: str, env: Mapping[str, str]) -> str:
    # faas-cli substitutes ${VAR} and ${VAR:-default} in stack files before parsing.
    def value(match: re.Match[str]) -> str:
        if match.group(1) in SECRET_VARIABLES:
            return match.group(0)
        return env.get(match.group(1)) or (match.group(2) or "")

    return _ENV_REF.sub(value, text)


class StackFile:
    """The faas-cli stack file in a directory, read lazily and at most once."""

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self.path = next(
            (directory / name for name in STACK_FILES if (directory / name).is_file()), None
        )
        self._env = env
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is not None:
            return self._data
        self._data = {}
        if self.path is None:
            return self._data
        import yaml

        try:
            text = self.path.read_text(encoding="utf-8")
            data = yaml.safe_load(_expand_env(text, self._env))
        except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: bad dates
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageFailure(f"cannot read {self.path.name}: {reason}") from exc
        if isinstance(data, dict):
            self._data = data
        return self._data

    def gateway(self) -> str | None:
        provider = self._load().get("provider")
        value = provider.get("gateway") if isinstance(provider, dict) else None
        return str(value) if value else None

    def functions(self) -> dict[str, dict[str, Any]]:
        functions = self._load().get("functions")
        if not isinstance(functions, dict):
            return {}
        return {str(k): v if isinstance(v, dict) else {} for k, v in functions.items()}

    def namespace(self, function: str | None) -> str | None:
        if function is not None:
            value = self.functions().get(function, {}).get("namespace")
            if value:
                return str(value)
        return None


def parse_timeout(value: str | float | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    text = str(value).strip().lower()
    scale = 1.0
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            text, scale = text[: -len(suffix)], factor
            break
    try:
        seconds = float(text) * scale
    except ValueError:
        raise UsageFailure(f"invalid timeout: {value!r} (use seconds, e.g. 30 or 30s)") from None
    if not seconds > 0:
        raise UsageFailure(f"invalid timeout: {value!r} (must be more than zero)")
    if not seconds <= MAX_TIMEOUT:  # inf, nan
        raise UsageFailure(f"invalid timeout: {value!r} (at most {MAX_TIMEOUT:g} seconds)")
    return seconds


def resolve_settings(
    *,
    gateway: str | None = None,
    namespace: str | None = None,
    function: str | None = None,
    tls_no_verify: bool = False,
    cacert: str | None = None,
    timeout: str | float | None = None,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting once; `function` lets stack.yml supply its namespace."""
    env = os.environ if env is None else env
    stack = StackFile(cwd or Path.cwd(), env)

    gateway_value = gateway or env.get("OPENFAAS_URL") or stack.gateway() or DEFAULT_GATEWAY
    _warn_no_scheme(gateway_value)
    namespace_value = namespace or env.get("OPENFAAS_NS") or stack.namespace(function) or None

    home_value = env.get("FAASAUTH_HOME")
    home = Path(home_value).expanduser() if home_value else default_home()

    backend_value = (env.get("FAASAUTH_TOKEN_STORE") or "auto").strip().lower()
    backend = next((b for b in STORE_BACKENDS if b == backend_value), None)
    if backend is None:
        raise UsageFailure(
            f"invalid FAASAUTH_TOKEN_STORE={backend_value!r}: "
            f"use one of {', '.join(STORE_BACKENDS)}"
        )

    cacert_value = cacert or env.get("SSL_CERT_FILE") or None
    if cacert_value and not Path(cacert_value).is_file():
        raise UsageFailure(f"CA certificate file not found: {cacert_value}")

    return Settings(
        gateway=normalise_gateway(gateway_value),
        namespace=namespace_value,
        home=home,
        store_backend=backend,
        tls_verify=not tls_no_verify,
        cacert=cacert_value,
        timeout=parse_timeout(timeout),
        verbose=verbose,
    )


def _warn_no_scheme(url: str) -> None:
    """faas-cli adds http:// to a gateway given without a scheme; say so unless it is local."""
    text = url.strip()
    if "://" in text or not text:
        return
    host = text.split("/", 1)[0].rsplit(":", 1)[0].strip("[]").lower()
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        return
    from faasauth.console import warn

    warn(f"the gateway {text} has no scheme: using http:// (plain text); write https:// "
         "if it serves TLS")

