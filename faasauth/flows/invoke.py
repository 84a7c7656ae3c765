"""`faasauth invoke`: build the invocation (name and namespace, headers, content type,
signature) from a request, then call the function through faasauth.gateway.call, which
answers the IAM challenge with a token from faasauth.flows.exchange."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import BinaryIO

from faasauth._version import __version__
from faasauth.console import Output
from faasauth.errors import UsageFailure
from faasauth.flows.subject import SubjectSource
from faasauth.gateway.call import Invocation, Outcome, invoke
from faasauth.runtime import Runtime
from faasauth.tokens.function import ObtainedToken


@dataclass(frozen=True)
class InvokeRequest:
    """What `faasauth invoke` was asked for, already checked by the command line."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    method: str = "POST"
    content_type: str = "text/plain"
    content_type_given: bool = False  # --content-type on the command line wins over -H
    is_async: bool = False
    auth: bool = False
    audience: str | None = None
    sign_header: str | None = None
    sign_key: bytes | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the signing key is a secret
        return f"InvokeRequest(name={self.name!r}, method={self.method!r})"


def signing_key(header: str | None, key: str | None, key_file: str | None) -> bytes | None:
    """The key for --sign: --key-file, FAASAUTH_SIGN_KEY or --key; None without --sign."""
    if key is not None and key_file is not None:
        raise UsageFailure("give the signing key once: --key or --key-file")
    if not header:
        if key is not None or key_file is not None:
            raise UsageFailure("--key and --key-file go with --sign HEADER")
        return None
    if key_file is not None:
        from faasauth.config.secrets import read_secret_bytes

        data = read_secret_bytes(key_file, "key")
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    elif key is not None:
        data = key.encode("utf-8")
    else:
        data = os.environ.get("FAASAUTH_SIGN_KEY", "").encode("utf-8")
    if not data:
        raise UsageFailure(
            "signing requires a key: --key-file PATH, FAASAUTH_SIGN_KEY, or --key KEY"
        )
    return data


def run_invoke(
    rt: Runtime, request: InvokeRequest, stdin: BinaryIO | None, out: Output
) -> Outcome:
    """Call the function with the body from `stdin`, its answer to `out`."""
    from faasauth.flows.exchange import obtain_function_token
    from faasauth.flows.subject import find_subject
    from faasauth.gateway.body import RequestBody
    from faasauth.store.remembered import RememberedFunctions

    from faasauth.config.names import function_and_namespace

    # `invoke env.dev`: faas-cli sends it as is and the gateway reads the namespace from
    # it; the token's audience must say dev:env as well. Names faas-cli would not deploy
    # are refused here, before anything is sent.
    name, namespace = function_and_namespace(request.name, rt.settings.namespace,
                                             rt.settings.namespace_source)

    headers = list(request.headers)
    names = {n.lower() for n, _ in headers}
    if request.content_type_given or "content-type" not in names:
        _warn_overridden_content_type(request)
        headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
        headers.append(("Content-Type", request.content_type))
    if "user-agent" not in names:
        headers.append(("User-Agent", f"faasauth/{__version__}"))

    subject: list[SubjectSource] = []

    def tokens(reject: str | None = None) -> ObtainedToken:
        if not subject:
            subject.append(find_subject(rt))
        return obtain_function_token(rt, subject[0], [invocation.token_audience], reject=reject)

    with RequestBody(stdin) as body:
        if request.sign_header and request.sign_key is not None:
            import hashlib
            import hmac

            mac = hmac.new(request.sign_key, digestmod=hashlib.sha256)
            body.load(mac.update)
            headers.append((request.sign_header, "sha256=" + mac.hexdigest()))
        invocation = Invocation(
            name=name,
            namespace=namespace,
            method=request.method.upper(),
            headers=tuple(headers),
            query=request.query,
            is_async=request.is_async,
            auth=request.auth,
            audience=request.audience,
            decode="accept-encoding" not in names,
        )
        notes = RememberedFunctions(rt.home, clock=rt.clock)
        if invocation.is_async and not invocation.auth:
            warn_async_without_token(invocation, notes.needs_auth(rt.settings.gateway,
                                                                  invocation.target))
        return invoke(
            invocation,
            settings=rt.settings,
            client=rt.client,
            body=body,
            tokens=tokens,
            notes=notes,
            out=out,
        )


def _warn_overridden_content_type(request: InvokeRequest) -> None:
    """--content-type wins over -H 'Content-Type: ...' (as in faas-cli): say so when they
    differ, since one of the two the user typed is dropped."""
    given = [v for n, v in request.headers if n.lower() == "content-type"]
    if not request.content_type_given or not given:
        return
    if all(v.strip().lower() == request.content_type.strip().lower() for v in given):
        return
    from faasauth.console import warn

    warn(f"--content-type {request.content_type} wins over -H 'Content-Type: {given[-1]}'; "
         "give one of them")


def warn_async_without_token(invocation: Invocation, remembered: bool) -> None:
    """`--async` without `--auth` to a function not known to need a token: the gateway
    queues the call with a 202 whatever happens, so a protected function's challenge is
    never seen here; its queued call is refused later, out of sight."""
    if remembered or invocation.user_authorization:
        return
    from faasauth.console import warn

    warn(
        f"--async without --auth: if {invocation.target} needs a function token, the "
        "queued call will be refused after the 202; add --auth to send one"
    )
