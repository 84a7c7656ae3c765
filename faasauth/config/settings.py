"""One resolver for every setting: flag > environment > stack.yml > default.

Kept free of heavy imports: PyYAML is loaded only when a stack file exists and is needed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, get_args
from urllib.parse import urlsplit

from faasauth.errors import UsageFailure

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_NAMESPACE = "openfaas-fn"
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 86400.0
STACK_FILES = ("stack.yaml", "stack.yml")  # faas-cli's order: stack.yaml wins
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
    # Where the gateway and the namespace came from, for messages ("-g", "OPENFAAS_URL",
    # "stack.yml's provider.gateway", "the default"); None: not resolved from the usual
    # places (a Settings built by hand).
    gateway_source: str | None = field(default=None, compare=False)
    namespace_source: str | None = field(default=None, compare=False)

    @property
    def function_namespace(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE

    def unreachable_gateway_hint(self) -> str | None:
        """The hint for a gateway that cannot be reached: where its URL came from."""
        source = self.gateway_source
        if source is None:
            return None
        if source == "the default":
            return ("no gateway was given (-g, OPENFAAS_URL or a stack file's "
                    f"provider.gateway), so the default {self.gateway} was used; is a gateway "
                    "running there? pass -g URL")
        other = "" if source == "-g" else " pass -g URL for another"
        return f"the gateway URL came from {source}; is the gateway running there?{other}"


# ${VAR}, ${VAR:-default} and $VAR, as faas-cli's envsubst (drone/envsubst) reads them.
_ENV_REF = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


# Secrets faasauth reads from the environment: a stack file (someone else's, perhaps) must
# not be able to move them into a URL, so ${VAR} stays as written for these.
SECRET_VARIABLES = frozenset({
    "FAASAUTH_CLIENT_SECRET", "FAASAUTH_SUBJECT_TOKEN", "FAASAUTH_ID_TOKEN", "FAASAUTH_SIGN_KEY",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "OPENFAAS_ID_TOKEN",
})


def _expand_env(text: str, env: Mapping[str, str]) -> str:
    # faas-cli substitutes ${VAR} and ${VAR:-default} in stack files before parsing.
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in SECRET_VARIABLES:
            return match.group(0)
        return env.get(name) or (match.group(2) or "")

    return _ENV_REF.sub(value, text)


@dataclass(frozen=True)
class StackChoice:
    """faas-cli's stack-file flags: `-f/--yaml`, `--envsubst`, `--regex`, `--filter`."""

    path: str | None = None  # None: stack.yaml or stack.yml in the working directory
    envsubst: bool = True
    regex: str | None = None
    filter: str | None = None


class StackFile:
    """The faas-cli stack file (`-f`, else stack.yaml or stack.yml in a directory), read
    lazily and at most once; `--regex`/`--filter` keep only the functions they match."""

    def __init__(
        self, directory: Path, env: Mapping[str, str], choice: StackChoice | None = None
    ) -> None:
        self.choice = choice or StackChoice()
        if self.choice.path is not None:
            self.path: Path | None = directory / Path(self.choice.path).expanduser()
        else:
            self.path = next(
                (directory / name for name in STACK_FILES if (directory / name).is_file()), None
            )
        self._env = env
        self._data: dict[str, Any] | None = None

    def check(self) -> None:
        """What faas-cli checks before it runs a command: a named file must exist and parse,
        and --regex/--filter must be valid and match a function."""
        choice = self.choice
        if choice.regex and choice.filter:
            raise UsageFailure("pass in a regex or a filter, not both")
        if choice.path is not None:
            if "://" in choice.path:
                raise UsageFailure(
                    f"-f {choice.path}: faasauth reads a local stack file, not a URL",
                    hint="download it first (curl -fsSLo stack.yml URL), then -f stack.yml",
                )
            self._load()
        if (choice.regex or choice.filter) and self.path is not None:
            self.functions()

    def _load(self) -> dict[str, Any]:
        if self._data is not None:
            return self._data
        self._data = {}
        if self.path is None:
            return self._data
        import yaml

        shown = self.choice.path or self.path.name
        try:
            text = self.path.read_text(encoding="utf-8")
            if self.choice.envsubst:
                text = _expand_env(text, self._env)
            data = yaml.safe_load(text)
        except OSError as exc:
            raise UsageFailure(f"cannot read the stack file {shown}: "
                               f"{exc.strerror or 'unreadable'}") from exc
        except (ValueError, yaml.YAMLError) as exc:  # ValueError: bad dates
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageFailure(f"cannot read {shown}: {reason}") from exc
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
            functions = {}
        found = {str(k): v if isinstance(v, dict) else {} for k, v in functions.items()}
        if self.choice.regex or self.choice.filter:
            found = {k: v for k, v in found.items() if self._selected(k)}
            if not found:
                raise UsageFailure(
                    "no functions matching --filter/--regex were found in the YAML file"
                )
        return found

    def _selected(self, name: str) -> bool:
        """faas-cli's rules: --regex anywhere in the name (Go's regexp.MatchString),
        --filter a wildcard where only `*` is special (go-glob), matching the whole name."""
        if self.choice.regex:
            try:
                return re.search(self.choice.regex, name) is not None
            except re.error as exc:
                raise UsageFailure(f"invalid --regex {self.choice.regex!r}: {exc}") from None
        pattern = ".*".join(re.escape(part) for part in (self.choice.filter or "").split("*"))
        return re.fullmatch(pattern, name, re.DOTALL) is not None

    @property
    def shown(self) -> str:
        """The stack file's name as messages show it."""
        return self.choice.path or (self.path.name if self.path is not None else STACK_FILES[0])

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
    stack_file: StackChoice | None = None,
) -> Settings:
    """Resolve every setting once; `function` lets stack.yml supply its namespace."""
    env = os.environ if env is None else env
    stack = StackFile(cwd or Path.cwd(), env, stack_file)
    stack.check()
    # FAAS_DEBUG=1 is faas-cli's -v (faasauth's log stays redacted).
    verbose = verbose or env.get("FAAS_DEBUG") == "1"

    gateway_value, gateway_source = _first_of(
        ("-g", lambda: gateway), ("OPENFAAS_URL", lambda: env.get("OPENFAAS_URL")),
        (f"{stack.shown}'s provider.gateway", stack.gateway),
    ) or (DEFAULT_GATEWAY, "the default")
    _warn_no_scheme(gateway_value)
    namespace_value, namespace_source = _first_of(
        ("-n", lambda: namespace), ("OPENFAAS_NS", lambda: env.get("OPENFAAS_NS")),
        (f"{stack.shown}'s functions.{function}.namespace", lambda: stack.namespace(function)),
    ) or (None, None)

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
        gateway_source=gateway_source,
        namespace_source=namespace_source,
    )


def _first_of(*places: tuple[str, Callable[[], str | None]]) -> tuple[str, str] | None:
    """The first place that has a value, and its name; each asked only if the ones before
    had none (a stack file is read only when it is needed)."""
    for source, value in places:
        found = value()
        if found:
            return found, source
    return None


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

