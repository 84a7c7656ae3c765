"""The sandbox's OpenFaaS gateway: discovery, JWKS, token exchange, functions.

Routes (everything else is Go's `404 page not found`):

    GET  /.well-known/openid-configuration   issuer = the gateway URL, jwks_uri, token_endpoint
    GET  /.well-known/jwks.json              the gateway's own key (function and API tokens)
    POST /oauth/token                        token exchange (exchange.py)
    *    /function/<name>[.<ns>][/<path>]    the watchdog (watchdog.py) then the function
    *    /async-function/<name>[.<ns>][/...] 202 at once, the function runs later, result dropped
    *    /system/...                         the REST API faas-cli reads (system_api.py):
                                             functions, function/NAME, namespaces, info;
                                             writes answer 501
    GET  /healthz                            the gateway's health (no authentication)
    GET  /_sandbox/requests                  the request log as JSON (DELETE clears it);
                                             sandbox-only, never logged or counted

Like the real gateway, every function answer carries `X-Call-Id` and `X-Start-Time`, and the
watchdog's 401/403 pass through unchanged; `/_/health` and `/_/ready` under a function are the
watchdog's own, unprotected, GET only (any other method: an empty 405, as of-watchdog answers). An unknown function is the gateway's 404 `error finding function`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

from faasauth._version import __version__
from faasauth.sandbox import user_functions
from faasauth.sandbox.exchange import TOKEN_EXCHANGE, TokenExchange
from faasauth.sandbox.functions import DEFAULT_NAMESPACE, Call, Function, invoke, spool
from faasauth.sandbox.keys import SigningKey, jwks
from faasauth.sandbox.oauth import json_response
from faasauth.sandbox.requestlog import RequestLog
from faasauth.sandbox.server import Request, Response, text_response
from faasauth.sandbox.system_api import SystemApi
from faasauth.sandbox.watchdog import Watchdog

FUNCTION_PATH = re.compile(r"^/(function|async-function)/([-a-zA-Z_0-9.]+)(/.*)?$")
WATCHDOG_PATHS = ("/_/health", "/_/ready")


class Gateway:
    def __init__(
        self,
        *,
        url: str,
        key: SigningKey,
        exchange: TokenExchange,
        watchdog: Watchdog,
        functions: list[Function],
        requests: RequestLog,
        admin_password: str,
    ) -> None:
        self.url = url
        self.key = key
        self.exchange = exchange
        self.watchdog = watchdog
        self.functions = {(f.name, f.namespace): f for f in functions}
        self.requests = requests
        self.invocations: Counter[str] = Counter()  # ns:name -> calls that reached it
        self.system = SystemApi(
            functions=functions,
            key=lambda: self.key,
            iam=exchange.iam,
            admin_password=admin_password,
            invocations=lambda f: self.invocations[f.ref],
            version=__version__,
            clock=watchdog.clock,
        )
        self.async_calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # async invocations accepted and not finished

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/.well-known/jwks.json",
            "token_endpoint": f"{self.url}/oauth/token",
            "grant_types_supported": [TOKEN_EXCHANGE],
            "response_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    def handle(self, request: Request) -> Response:
        path = request.path
        match = FUNCTION_PATH.match(path)
        if match is not None:
            return self._function(
                request, match.group(1) == "async-function", match.group(2), match.group(3) or "/"
            )
        if path == "/oauth/token":
            return self.exchange.handle(request)
        if path == "/.well-known/openid-configuration":
            return json_response(200, self.configuration(), no_store=False)
        if path == "/.well-known/jwks.json":
            return json_response(200, jwks([self.key]), no_store=False)
        if path.startswith("/system/"):
            answer = self.system.handle(request)
            if answer is not None:
                return answer
        if path == "/healthz":
            return text_response(200, "OK")
        if path == "/_sandbox/requests":
            if request.method == "DELETE":
                self.requests.clear()
            return json_response(200, [r.as_dict() for r in self.requests.snapshot()])
        return text_response(404, "404 page not found\n")

    def _token_kind(self, authorization: str | None) -> str:
        if not authorization:
            return "none"
        if authorization[:7].lower() != "bearer ":
            return "invalid"
        return self.exchange.classify(authorization[7:].strip())

    def _function(self, request: Request, run_async: bool, service: str, rest: str) -> Response:
        name, dot, namespace = service.rpartition(".")
        if not dot:
            name, namespace = service, DEFAULT_NAMESPACE
        call_id, started = str(uuid.uuid4()), str(time.time_ns())
        gateway_headers = [("X-Call-Id", call_id), ("X-Start-Time", started)]
        authorization = request.header("Authorization")
        kind = self._token_kind(authorization)
        function = self.functions.get((name, namespace))
        if function is None:
            message = (
                f"error finding function {name}.{namespace}: server returned non-200 status code "
                f"(404) for function, {name}, body: "
            )
            return Response(
                404,
                [("Content-Type", "text/plain; charset=utf-8"), *gateway_headers],
                message.encode("utf-8"),
                token=kind,
            )
        with self._lock:
            self.invocations[function.ref] += 1
        headers = [*request.headers.items(), *gateway_headers]
        if not run_async:
            call = Call(request.method, rest, request.query, headers, request.body)
            response = self.run(function, call, authorization)
            response.headers += gateway_headers
            response.token = kind
            return response
        body, _ = spool(request.body)
        call = Call(request.method, rest, request.query, headers, body)
        with (
            self._lock
        ):  # counted before the 202 leaves, so wait_async() after it waits for this one
            self._pending += 1
        worker = threading.Thread(
            target=self._run_async,
            args=(function, call, authorization, call_id),
            name="faasauth-sandbox-async",
            daemon=True,
        )
        return Response(202, gateway_headers, token=kind, after=worker.start)

    def run(self, function: Function, call: Call, authorization: str | None) -> Response:
        """What the function's watchdog answers."""
        if call.path in WATCHDOG_PATHS:
            # the watchdog's own handlers: GET only, any other method a bare 405
            return text_response(200, "OK") if call.method == "GET" else Response(405)
        if function.jwt_auth:
            decision = self.watchdog.authorize(authorization, function.namespace, function.name)
            if decision.denial is not None:
                return decision.denial
            call.claims = decision.claims
        if function.upstream is not None:
            return user_functions.proxy(function, call)
        if function.command is not None:
            return user_functions.run(function, call)
        return invoke(function, call)

    def _run_async(
        self, function: Function, call: Call, authorization: str | None, call_id: str
    ) -> None:
        status = 500
        try:
            response = self.run(function, call, authorization)
            status = response.status
            for _ in response.stream or ():
                pass  # the result is discarded, as the queue worker does without a callback URL
            closer = getattr(response.stream, "close", None)
            if closer is not None:
                closer()
        finally:
            close = getattr(call.body, "close", None)
            if close is not None:
                close()
            with self._lock:
                self.async_calls.append(
                    {"call_id": call_id, "function": function.ref, "status": status}
                )
                self._pending -= 1
                self._idle.notify_all()

    def wait_async(self, timeout: float = 5.0) -> bool:
        """Wait until every async invocation accepted so far has run; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
