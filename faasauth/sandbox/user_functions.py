"""The user's own functions behind the sandbox's watchdog: the handler under development,
reached through the real challenge, token exchange and IAM.

    --function NAME[.NS]=URL          an HTTP server the user runs: the watchdog (jwt_auth
                                      unless --no-jwt-auth NAME) checks the token, then the
                                      request goes to URL + the path after /function/NAME,
                                      with its query, headers and body, as of-watchdog's
                                      `http` mode; the answer comes back as it streams
    --function-exec NAME[.NS] 'CMD'   a command run for each request, as the classic
                                      watchdog's `fprocess`: the body on its stdin, its stdout
                                      the answer (200, the request's Content-Type); a non-zero
                                      exit is a 500 `exit status N`. It gets the classic
                                      watchdog's CGI variables: Http_Method, Http_Path,
                                      Http_Query and Http_<Header_Name> for each header.
                                      Its stderr is the sandbox's (the watchdog logs it);
                                      there is no time limit (exec_timeout=0).

In Python: `Sandbox(functions=[http_function("hello", url), exec_function("wc", "wc -c")])`.
"""

from __future__ import annotations

import http.client
import os
import shlex
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

from faasauth.sandbox.functions import DEFAULT_NAMESPACE, NAME, Call, Function, spool
from faasauth.sandbox.server import CHUNK, Response, text_response

HOP_BY_HOP = frozenset(
    ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "content-length", "expect", "date"]
)
UPSTREAM_TIMEOUT = 60.0


def _name(text: str) -> tuple[str, str]:
    name, dot, namespace = text.partition(".")
    namespace = namespace if dot else DEFAULT_NAMESPACE
    if not NAME.match(name) or not NAME.match(namespace):
        raise ValueError(f"{text!r} is not a function name (NAME or NAME.NAMESPACE)")
    return name, namespace


def http_function(name: str, url: str, *, jwt_auth: bool = True) -> Function:
    """An HTTP server at `url` served as the function `name` (`NAME` or `NAME.NAMESPACE`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: the function's URL takes no query or fragment")
    base, namespace = _name(name)
    return Function(base, namespace, jwt_auth, upstream=url.rstrip("/"))


def exec_function(name: str, command: str, *, jwt_auth: bool = True) -> Function:
    """`command` (split as a shell would, not run by one) as the function `name`."""
    try:
        argv = tuple(shlex.split(command))
    except ValueError as exc:
        raise ValueError(f"{command!r}: {exc}") from None
    if not argv:
        raise ValueError("the command is empty")
    base, namespace = _name(name)
    return Function(base, namespace, jwt_auth, command=argv)


def parse_url_spec(spec: str, *, jwt_auth: bool = True) -> Function:
    """`NAME[.NS]=URL`, as --function takes it."""
    name, equals, url = spec.partition("=")
    if not equals:
        raise ValueError(f"{spec!r}: expected NAME=URL")
    return http_function(name, url, jwt_auth=jwt_auth)


def describe(function: Function) -> str:
    if function.upstream is not None:
        return function.upstream
    return shlex.join(function.command or ())


# -- an HTTP server as the function ---------------------------------------------------


def proxy(function: Function, call: Call) -> Response:
    assert function.upstream is not None
    parts = urlsplit(function.upstream)
    target = (parts.path.rstrip("/") + call.path) or "/"
    if call.query:
        target += "?" + call.query
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = connection_class(parts.hostname or "", parts.port, timeout=UPSTREAM_TIMEOUT)
    headers: dict[str, str] = {}
    for name, value in call.headers:
        if name.lower() not in HOP_BY_HOP:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    length = call.header("Content-Length")
    if length is not None:
        headers["Content-Length"] = length
    try:
        conn.request(
            call.method, target, body=_chunks(call), headers=headers,
            encode_chunked=length is None and call.header("Transfer-Encoding") is not None,
        )
        answer = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return text_response(
            502, f"faasauth sandbox: cannot reach function {function.name} at "
            f"{function.upstream}: {why}\n"
        )
    kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
    if answer.status in (204, 304) or call.method == "HEAD":  # no body, whatever it says
        conn.close()
        return Response(answer.status, kept)
    size = answer.getheader("Content-Length")
    return Response(
        answer.status, kept, stream=_answer(conn, answer),
        length=int(size) if size and size.isdigit() else None,
    )


def _chunks(call: Call) -> Iterator[bytes]:
    while chunk := call.body.read(CHUNK):
        yield chunk


def _answer(conn: http.client.HTTPConnection, answer: http.client.HTTPResponse) -> Iterator[bytes]:
    try:
        while chunk := answer.read(CHUNK):
            yield chunk
    finally:
        conn.close()


# -- a command as the function (the classic watchdog) -----------------------------------


def run(function: Function, call: Call) -> Response:
    assert function.command is not None
    argv = list(function.command)
    env = {**os.environ, "Http_Method": call.method, "Http_Path": call.path}
    if call.query:
        env["Http_Query"] = call.query
    for name, value in call.headers:
        env.setdefault(f"Http_{name.replace('-', '_')}", value)
    body, _ = spool(call.body)
    try:
        body.fileno()  # on disk now, so that the command reads it as its stdin
        process = subprocess.Popen(argv, stdin=body, stdout=subprocess.PIPE, env=env)
        output, _ = process.communicate()
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            message = f'exec: "{argv[0]}": executable file not found in $PATH'
        else:
            message = f"fork/exec {argv[0]}: {exc.strerror or exc}"
        return Response(500, [("Content-Type", "text/plain; charset=utf-8")], message.encode())
    finally:
        body.close()
    if process.returncode != 0:
        status = process.returncode
        message = f"exit status {status}" if status > 0 else f"signal: {-status}"
        return Response(500, [("Content-Type", "text/plain; charset=utf-8")], message.encode())
    content_type = call.header("Content-Type")
    return Response(200, [("Content-Type", content_type)] if content_type else [], output)
