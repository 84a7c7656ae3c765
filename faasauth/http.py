"""The one place HTTP clients are made: TLS, proxies, timeouts, redacted --verbose logs,
and the translation of transport failures into faasauth errors."""

from __future__ import annotations

import re
import ssl
import sys
from typing import TYPE_CHECKING, Any

from faasauth.console import say
from faasauth.errors import TransientFailure
from faasauth.config.proxies import is_loopback as is_loopback  # the rule's one home
from faasauth.config.settings import Settings
from faasauth.tokens.redact import REDACTED, Redactor, redact_tokens, sent_secrets
from faasauth.tokens.redact import SECRET_FIELDS as SECRET_FIELDS  # importable from here too

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


MAX_REDIRECTS = 10  # Go's client stops after 10, as faas-cli does
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def redact_header(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in ("cookie", "set-cookie"):
        return REDACTED
    if lowered in SECRET_HEADERS:
        # Keep the scheme (`Bearer`, `Basic`): it tells what was sent, not the secret.
        scheme = value.split(" ", 1)[0] if " " in value else ""
        return f"{scheme} {REDACTED}".strip()
    return redact_tokens(value)


_SECRET_QUERY = re.compile(r"token|key|secret|passw|signature|sig$|code$", re.IGNORECASE)


def shown_url(url: httpx.URL) -> str:
    """A URL for a log line: the values of query keys that look like secrets masked."""
    if not url.query:
        return str(url)
    from urllib.parse import parse_qsl

    pairs = parse_qsl(url.query.decode("ascii", "replace"), keep_blank_values=True)
    shown = "&".join(f"{k}={REDACTED if _SECRET_QUERY.search(k) else v}" for k, v in pairs)
    return f"{url.copy_with(query=None)}?{shown}"


def _log_request(request: httpx.Request) -> None:
    say(f"> {request.method} {shown_url(request.url)}")
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
    # A server may echo anything it was sent (the client secret, Basic credentials decoded,
    # a subject token, a code, a refresh token), in any encoding, in any line it answers.
    clean = Redactor(_request_secrets(response.request))
    say(f"< {response.http_version} {response.status_code} {clean(response.reason_phrase)}")
    for name, value in response.headers.items():
        say(f"< {name}: {clean(redact_header(name, value))}")


def _request_secrets(request: httpx.Request) -> list[str]:
    """Every secret `request` carried: what `_log_request` masks, as values to redact."""
    from urllib.parse import parse_qsl

    query = parse_qsl(request.url.query.decode("ascii", "replace"), keep_blank_values=True)
    found = [value for key, value in query if _SECRET_QUERY.search(key)]
    form = ""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            form = request.content.decode("utf-8", "replace")
        except Exception:  # a streamed body: not ours to read
            form = ""
    return found + sent_secrets(request.headers.items(), form)


def make_client(settings: Settings, **options: Any) -> httpx.Client:
    import httpx

    hooks: dict[str, list[Any]] = {"request": [], "response": []}
    if settings.verbose:
        hooks = {"request": [_log_request], "response": [_log_response]}
    limits = options.pop("limits", None)  # for the transports: a Client's own is not used
    lanes = options.pop("lanes", None)  # many threads: faasauth.lanes, `limits` per lane
    if "transport" not in options:  # tests pass a MockTransport
        # Proxies too: httpx's own choice would send loopback requests to HTTP_PROXY.
        options["transport"] = _transport_per_scheme(settings, limits, lanes)
    from faasauth._version import __version__

    options.setdefault("headers", {"User-Agent": f"faasauth/{__version__}"})
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout),
        max_redirects=MAX_REDIRECTS,  # only a function call follows them
        trust_env=True,  # proxy variables: read per request by the transport (proxy_for)
        event_hooks=hooks,
        **options,
    )


def _transport_per_scheme(settings: Settings, limits: httpx.Limits | None = None,
                          lanes: int | None = None) -> httpx.BaseTransport:
    """A transport per scheme and proxy: TLS set up only when an https:// URL is first
    requested, and each request's proxy chosen by `proxy_for` (loopback: always direct).
    With `lanes`, each is a faasauth.lanes.Lanes of transports with `limits` each.

    Loading the CA bundle costs about 50 ms, a fifth of a warm `invoke`; a plain http://
    gateway (a local one, or `gateway.openfaas:8080` inside a cluster) never needs it.
    """
    from functools import partial

    import httpx

    from faasauth.config.proxies import proxy_for

    class TransportPerScheme(httpx.BaseTransport):
        def __init__(self) -> None:
            self._transports: dict[tuple[bool, str | None], httpx.BaseTransport] = {}
            self._verify: bool | ssl.SSLContext | None = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            secure = request.url.scheme == "https"
            key = (secure, proxy_for(str(request.url)))
            transport = self._transports.get(key)
            if transport is None:
                # verify=False for plain http: that transport never starts TLS.
                if secure and self._verify is None:
                    from faasauth.trust import tls_verification

                    self._verify = tls_verification(settings)
                verify = self._verify if secure and self._verify is not None else False
                make = partial(httpx.HTTPTransport, verify=verify, proxy=key[1],
                               limits=limits or httpx.Limits(
                                   max_connections=100, max_keepalive_connections=20))
                if lanes:
                    from faasauth.lanes import Lanes

                    transport = self._transports[key] = Lanes(make, keep=lanes)
                else:
                    transport = self._transports[key] = make()
            return transport.handle_request(request)

        def close(self) -> None:
            for transport in self._transports.values():
                transport.close()

    return TransportPerScheme()


def transport_failure(exc: Exception, what: str, settings: Settings) -> TransientFailure:
    """A one-line, secret-free description of a failed request: what faasauth was doing and
    where (scheme, host and port), in words - never a library class or an OpenSSL string."""
    import httpx

    where_to = ""
    if isinstance(exc, httpx.RequestError):
        try:
            url = exc.request.url
            where_to = origin(str(url.copy_with(query=None, fragment=None)))
        except RuntimeError:
            where_to = ""
    where = f"{what} ({where_to})" if where_to else what
    unreachable = (settings.unreachable_gateway_hint()
                   if where_to and where_to == origin(settings.gateway) else None)
    if isinstance(exc, httpx.ConnectTimeout):
        return TransientFailure(f"{where}: timed out after {settings.timeout:g}s",
                                hint=unreachable)
    if isinstance(exc, httpx.TimeoutException):
        return TransientFailure(f"{where}: timed out after {settings.timeout:g}s")
    if isinstance(exc, httpx.TooManyRedirects):
        return TransientFailure(f"{where}: stopped after {MAX_REDIRECTS} redirects",
                                hint="check the gateway URL; a redirect loop is likely")
    reason = str(exc)
    if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason:
        return TransientFailure(
            f"{where}: the server does not speak TLS there",
            hint="try http:// instead of https://, or check the port",
        )
    if "CERTIFICATE_VERIFY_FAILED" in reason or isinstance(exc.__context__, ssl.SSLError):
        return TransientFailure(
            f"{where}: TLS certificate verification failed",
            hint="pass --cacert FILE for a private CA, or --tls-no-verify to skip the check",
        )
    if isinstance(exc, httpx.ConnectError):
        return TransientFailure(f"{where}: cannot connect: {_plain(reason) or 'refused'}",
                                hint=unreachable)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return TransientFailure(f"{where}: the server closed the connection before answering")
    if isinstance(exc, httpx.WriteError):
        return TransientFailure(f"{where}: the server closed the connection while we sent")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return TransientFailure(f"{where}: unsupported URL scheme", hint="use http:// or https://")
    if isinstance(exc, httpx.LocalProtocolError):  # its text quotes the header: never shown
        return TransientFailure(f"{where}: not sent: a header or the URL holds characters "
                                "HTTP does not allow")
    return TransientFailure(f"{where}: the request failed ({_plain(reason) or 'no reason given'})")


def _plain(reason: str) -> str:
    """An OS error's words without its number: `[Errno 111] Connection refused` ->
    `Connection refused`; any other library text gives '' (it may quote what was sent)."""
    found = re.match(r"\[Errno -?\d+\]\s*([\w ,.'()-]{1,80})$", first_line(reason))
    return found.group(1).strip() if found else ""


def first_line(text: str, limit: int = 160, *, secrets: tuple[str | None, ...] = ()) -> str:
    """The first non-blank line, JWTs and `secrets` (e.g. an echoed opaque token) redacted."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = "".join(c if c.isprintable() else "?" for c in redact_tokens(line, *secrets))
    return line if len(line) <= limit else line[: limit - 1] + "…"


ANSWER_LIMIT = 256 * 1024  # of any JSON answer or error body we read, decompressed


class Answer:
    """A small answer read whole (token, discovery, device, exchange endpoints): at most
    ANSWER_LIMIT bytes after decompression, within the request's overall deadline."""

    def __init__(self, response: httpx.Response, content: bytes) -> None:
        self.status_code = response.status_code
        self.reason_phrase = response.reason_phrase
        self.headers = response.headers
        self.content = content
        self._encoding = response.charset_encoding or "utf-8"

    @property
    def text(self) -> str:
        return self.content.decode(self._encoding, errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)


def fetch(
    client: httpx.Client, method: str, url: str, *, what: str, timeout: float,
    limit: int = ANSWER_LIMIT, **options: Any,
) -> Answer:
    """One request whose answer is read whole, but never more than `limit` bytes
    (decompressed: a gzip bomb stops there) and never past `timeout` seconds in all,
    headers included: a server dripping its answer a byte at a time cannot hold the command
    (or a store lock). httpx's timeouts are per read, so the request runs in a worker thread
    that is abandoned at the deadline (its connection is never reused)."""
    import contextvars
    import threading

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["answer"] = _read_capped(client, method, url, what, timeout, limit, options)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    context = contextvars.copy_context()  # --verbose and library logging settings
    worker = threading.Thread(target=context.run, args=(work,), daemon=True)
    worker.start()
    worker.join(timeout + 1.0)
    if worker.is_alive():
        raise TransientFailure(
            f"{what} failed: {origin(url)} did not finish its answer within {timeout:g}s"
        )
    if "error" in outcome:
        raise outcome["error"]
    answer: Answer = outcome["answer"]
    return answer


def _read_capped(
    client: httpx.Client, method: str, url: str, what: str, timeout: float, limit: int,
    options: dict[str, Any],
) -> Answer:
    import time

    from faasauth.errors import MalformedResponse

    deadline = time.monotonic() + timeout
    with client.stream(method, url, **options) as response:
        parts: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limit:
                raise MalformedResponse(
                    f"{what} failed: {origin(url)} answered with more than "
                    f"{limit // 1024} KiB; not read further"
                )
            if time.monotonic() > deadline:
                raise TransientFailure(
                    f"{what} failed: {origin(url)} did not finish its answer within "
                    f"{timeout:g}s"
                )
            parts.append(chunk)
        return Answer(response, b"".join(parts))


def origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def summarise_body(response: httpx.Response | Answer, *secrets: str | None) -> str:
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
