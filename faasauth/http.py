"""The one place HTTP clients are made: TLS, proxies, timeouts, redacted --verbose logs,
and the translation of transport failures into faasauth errors."""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING, Any

from faasauth.console import say
from faasauth.errors import TransientFailure
from faasauth.config.settings import Settings
from faasauth.tokens.jwt import redact_tokens

if TYPE_CHECKING:
    import httpx



def keep_httpx_cli_out() -> None:
    """Keep `import httpx` from importing httpx's own command line (rich, pygments, click).

    httpx's `__init__` imports `httpx._main` inside `try/except ImportError`; a None in
    sys.modules makes that import fail and httpx falls back to a stub `main`. That saves
    about a third of a warm invoke's start-up. It has effect only before httpx is imported.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "subject_token",
        "access_token",
        "id_token",
        "refresh_token",
        "device_code",
        "code",  # an authorization code (the browser login)
        "code_verifier",
        "password",
        "actor_token",
        "assertion",
    }
)
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "<redacted>"


def redact_header(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in ("cookie", "set-cookie"):
        return REDACTED
    if lowered in SECRET_HEADERS:
        # Keep the scheme (`Bearer`, `Basic`): it tells what was sent, not the secret.
        scheme = value.split(" ", 1)[0] if " " in value else ""
        return f"{scheme} {REDACTED}".strip()
    return redact_tokens(value)


def _log_request(request: httpx.Request) -> None:
    say(f"> {request.method} {request.url}")
    for name, value in request.headers.items():
        say(f"> {name}: {redact_header(name, value)}")
    # Only the small bodies faasauth builds itself (token requests); never a function body.
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qsl

        try:
            fields = parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
        except Exception:  # a streamed body: not ours to read
            return
        shown = "&".join(f"{k}={REDACTED if k in SECRET_FIELDS else v}" for k, v in fields)
        say(f"> form: {shown}")


def _log_response(response: httpx.Response) -> None:
    say(f"< {response.http_version} {response.status_code} {response.reason_phrase}")
    for name, value in response.headers.items():
        say(f"< {name}: {redact_header(name, value)}")


def make_client(settings: Settings, **options: Any) -> httpx.Client:
    import httpx

    hooks: dict[str, list[Any]] = {"request": [], "response": []}
    if settings.verbose:
        hooks = {"request": [_log_request], "response": [_log_response]}
    if "transport" not in options:  # tests pass a MockTransport
        if _proxies_in_environment():
            # httpx ignores proxy variables when given a transport: let it make its own.
            options["verify"] = _tls_verification(settings)
        else:
            options["transport"] = _transport_per_scheme(settings)
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout),
        trust_env=True,  # HTTP(S)_PROXY, NO_PROXY, as every other CLI
        event_hooks=hooks,
        **options,
    )


def _proxies_in_environment() -> bool:
    import os

    names = ("http_proxy", "https_proxy", "all_proxy")
    return any(os.environ.get(n) or os.environ.get(n.upper()) for n in names)


def _tls_verification(settings: Settings) -> bool | ssl.SSLContext:
    """What to trust for https://, made when the first https:// request is sent.

        --tls-no-verify                 nothing checked
        --cacert FILE / SSL_CERT_FILE   that file
        otherwise                       the system's hashed CA directory (SSL_CERT_DIR, or
                                        OpenSSL's default, e.g. /etc/ssl/certs) when it has
                                        hash links: OpenSSL then reads only the one CA a
                                        server's chain names, when it names it (about 2 ms
                                        in all); else certifi's bundle, parsed whole
                                        (about 60 ms, a quarter of a warm invoke)

    Measured in benchmarks/bench_tls.py --trust; OpenSSL's default paths (the bundle file
    first: ~37 ms) and `truststore` (~15-20 ms, and a dependency) were slower.
    """
    if not settings.tls_verify:
        return False
    if settings.cacert:
        return ssl.create_default_context(cafile=settings.cacert)
    directory = hashed_ca_directory()
    if directory is not None:
        return ssl.create_default_context(capath=directory)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def hashed_ca_directory() -> str | None:
    """SSL_CERT_DIR (OpenSSL's `:`-separated list) or OpenSSL's default CA directory, when
    one of its directories holds hash links (`5ad8a5d6.0`, made by `openssl rehash`)."""
    import os

    value = os.environ.get("SSL_CERT_DIR") or ssl.get_default_verify_paths().capath
    if not value:
        return None
    for directory in value.split(":"):
        if directory and _has_hash_links(directory):
            return value
    return None


def _has_hash_links(directory: str) -> bool:
    import os

    hexdigits = frozenset("0123456789abcdef")
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if (
                    len(name) >= 10
                    and name[8] == "."
                    and name[9:].isdigit()
                    and hexdigits.issuperset(name[:8])
                ):
                    return True
    except OSError:
        return False
    return False


def _transport_per_scheme(settings: Settings) -> httpx.BaseTransport:
    """A transport that sets TLS up only when an https:// URL is first requested.

    Loading the CA bundle costs about 50 ms, a fifth of a warm `invoke`; a plain http://
    gateway (a local one, or `gateway.openfaas:8080` inside a cluster) never needs it.
    """
    import httpx

    class TransportPerScheme(httpx.BaseTransport):
        def __init__(self) -> None:
            self._transports: dict[bool, httpx.HTTPTransport] = {}

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            secure = request.url.scheme == "https"
            transport = self._transports.get(secure)
            if transport is None:
                # verify=False for plain http: that transport never starts TLS.
                verify = _tls_verification(settings) if secure else False
                transport = self._transports[secure] = httpx.HTTPTransport(verify=verify)
            return transport.handle_request(request)

        def close(self) -> None:
            for transport in self._transports.values():
                transport.close()

    return TransportPerScheme()


def transport_failure(exc: Exception, what: str, settings: Settings) -> TransientFailure:
    """A one-line, secret-free description of a failed request."""
    import httpx

    host = ""
    if isinstance(exc, httpx.RequestError):
        try:
            host = exc.request.url.host
        except RuntimeError:
            host = ""
    where = f"{what} ({host})" if host else what
    if isinstance(exc, httpx.TimeoutException):
        return TransientFailure(f"{where}: timed out after {settings.timeout:g}s")
    reason = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in reason or isinstance(exc.__context__, ssl.SSLError):
        return TransientFailure(
            f"{where}: TLS certificate verification failed",
            hint="pass --cacert FILE for a private CA, or --tls-no-verify to skip the check",
        )
    if isinstance(exc, httpx.ConnectError):
        return TransientFailure(f"{where}: cannot connect: {first_line(reason) or 'refused'}")
    return TransientFailure(f"{where}: {type(exc).__name__}: {first_line(reason)}")


def first_line(text: str, limit: int = 160, *, secrets: tuple[str | None, ...] = ()) -> str:
    """The first non-blank line, JWTs and `secrets` (e.g. an echoed opaque token) redacted."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = "".join(c if c.isprintable() else "?" for c in redact_tokens(line, *secrets))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def summarise_body(response: httpx.Response, *secrets: str | None) -> str:
    """The first line of a body that is not the JSON we expected, truncated and redacted.

    Pass the secrets the request carried: servers echo them back ("invalid JWT token: ...")
    and an opaque token does not look like one."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "no type"
    try:
        text = response.text
    except Exception:  # undecodable bytes
        text = ""
    line = first_line(text, secrets=secrets)
    return f"{content_type}: {line}" if line else content_type


def is_loopback(host: str) -> bool:
    import ipaddress

    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
