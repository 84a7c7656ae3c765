"""The functions the sandbox gateway serves, and what each one does when invoked.

Defaults, in namespace openfaas-fn: `echo` and `env` (open), `echo-auth` and `env-auth`
(`jwt_auth`). With `--stack stack.yml`, the stack file's `functions:` instead: protected when
`environment.jwt_auth` is true or "true", in the function's `namespace` (else openfaas-fn).
`${VAR}` and `${VAR:-default}` in the stack file are expanded from the environment, as
faas-cli does. Behaviour: a function whose name contains `env` behaves like `env`, any other
like `echo`.

- echo: answers the request body with the request's Content-Type. The body is read in 64 KiB
  pieces into a spool (memory up to 1 MiB, then a temporary file) and then streamed back, so
  memory stays constant for a multi-GiB body and a client that sends its whole request before
  reading the answer (httpx does) cannot deadlock against it.
- env: answers JSON with the method, the path and query the function sees, the request
  headers (the Authorization value masked), the number of body bytes, and the claims the
  watchdog verified (null for an open function).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs

from faasauth.errors import UsageFailure
from faasauth.sandbox.server import CHUNK, Response

DEFAULT_NAMESPACE = "openfaas-fn"
NAME = re.compile(r"^[-a-zA-Z_0-9]+$")
SPOOL_IN_MEMORY = 1024 * 1024
_ENVSUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Function:
    """A served function. `upstream` (a URL) or `command` (argv) make it the user's own
    (sandbox/user_functions.py); otherwise it behaves as echo or env."""

    name: str
    namespace: str = DEFAULT_NAMESPACE
    jwt_auth: bool = False
    upstream: str | None = None
    command: tuple[str, ...] | None = None

    @property
    def behaviour(self) -> str:
        if self.upstream is not None:
            return "http"
        if self.command is not None:
            return "exec"
        return "env" if "env" in self.name else "echo"

    @property
    def ref(self) -> str:
        return f"{self.namespace}:{self.name}"


def default_functions() -> list[Function]:
    return [
        Function("echo"),
        Function("env"),
        Function("echo-auth", jwt_auth=True),
        Function("env-auth", jwt_auth=True),
    ]


@dataclass
class Call:
    """A request as the function's watchdog sees it (path and query after /function/<name>)."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: Readable
    claims: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def invoke(function: Function, call: Call) -> Response:
    return _env(function, call) if function.behaviour == "env" else _echo(call)


def spool(body: Readable) -> tuple[BinaryIO, int]:
    """The body copied into a spooled temporary file, rewound; and its size."""
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    size = 0
    while chunk := body.read(CHUNK):
        file.write(chunk)
        size += len(chunk)
    file.seek(0)
    return file, size  # type: ignore[return-value]


def _stream(file: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()


def _echo(call: Call) -> Response:
    file, size = spool(call.body)
    content_type = call.header("Content-Type")
    headers = [("Content-Type", content_type)] if content_type else []
    return Response(200, headers, stream=_stream(file), length=size)


def mask_authorization(value: str) -> str:
    scheme, sep, _ = value.partition(" ")
    return f"{scheme} ***" if sep else "***"


def _env(function: Function, call: Call) -> Response:
    received = 0
    while chunk := call.body.read(CHUNK):
        received += len(chunk)
    headers: dict[str, str] = {}
    for name, value in call.headers:
        shown = mask_authorization(value) if name.lower() == "authorization" else value
        headers[name] = f"{headers[name]}, {shown}" if name in headers else shown
    document = {
        "function": function.ref,
        "method": call.method,
        "path": call.path,
        "query": parse_qs(call.query, keep_blank_values=True),
        "headers": headers,
        "body_bytes": received,
        "claims": call.claims,
    }
    body = json.dumps(document, indent=2).encode("utf-8") + b"\n"
    return Response(200, [("Content-Type", "application/json")], body)


def envsubst(text: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return _ENVSUBST.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def load_stack(source: str | Path | Mapping[str, Any]) -> list[Function]:
    """Functions of a faas-cli stack file (a path, or the already parsed mapping)."""
    origin = "stack"
    if isinstance(source, Mapping):
        document: Any = source
    else:
        import yaml

        origin = str(source)
        try:
            text = envsubst(Path(source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageFailure(
                f"{origin}: cannot read stack file: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise UsageFailure(
                f"{origin}: invalid YAML{at}: {getattr(exc, 'problem', None) or 'syntax error'}"
            ) from None
    functions = document.get("functions") if isinstance(document, Mapping) else None
    if not isinstance(functions, Mapping) or not functions:
        raise UsageFailure(f"{origin}: no functions: mapping in this stack file")
    found = []
    for name, spec in functions.items():
        spec = spec or {}
        if not isinstance(name, str) or not NAME.match(name) or not isinstance(spec, Mapping):
            raise UsageFailure(
                f"{origin}: function {name!r}: not a valid function name and mapping"
            )
        environment = spec.get("environment") or {}
        if not isinstance(environment, Mapping):
            raise UsageFailure(f"{origin}: function {name!r}: environment must be a mapping")
        namespace = spec.get("namespace") or DEFAULT_NAMESPACE
        if not isinstance(namespace, str) or not NAME.match(namespace):
            raise UsageFailure(f"{origin}: function {name!r}: invalid namespace {namespace!r}")
        jwt_auth = environment.get("jwt_auth") in (True, "true")
        found.append(Function(name, namespace, jwt_auth))
    return found
