"""The gateway's REST API under /system/, as faas-cli reads it (its `proxy/` package) and as
the OpenFaaS gateway answers it with IAM enabled.

    GET /system/functions[?namespace=NS]           the function list (faas-cli list)
    GET /system/function/NAME[?namespace=NS][&usage=1]   one function's status (describe, ready)
    GET /system/namespaces                         a JSON array of names (namespace list)
    GET /system/info                               provider, version and arch (version)
    anything else under /system/ that faas-cli sends (deploy, remove, logs, secret, scale):
                                                   501, saying what the sandbox serves

Who may call: the admin user by HTTP Basic (`admin` and the password made at start: what
`faas-cli login` saves), or an OpenFaaS API token this gateway issued (`/oauth/token` without
`scope=function`; Bearer, unexpired, signed by the gateway's current key). Anything else:
401. The admin may do everything; an API token what its `policy` claim's Policies allow:

    Function:Read    describe, on `<ns>:<name>`; list: the functions it may read (403 when
                     it may read none of a namespace's functions, [] for an empty one)
    Namespace:Read   the namespaces it may read, on `<ns>` (or `<ns>:*`)
    /system/info     any caller who authenticates

An action is granted by a statement whose action is the same, `Family:*` or `*`; a resource
`*` matches everything, otherwise `*` in it matches any run of characters and the whole target
must match. A refused action is a 403 naming it.
"""

from __future__ import annotations

import base64
import hmac
import platform
import re
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from faasauth.sandbox.functions import DEFAULT_NAMESPACE, Function
from faasauth.sandbox.iam import IamConfig
from faasauth.sandbox.keys import SigningKey
from faasauth.sandbox.oauth import json_response
from faasauth.sandbox.server import Request, Response, text_response

ADMIN_USER = "admin"
FUNCTION_READ = "Function:Read"
NAMESPACE_READ = "Namespace:Read"
# What faas-cli sends that the sandbox does not serve, with the command that sends it.
WRITES = (
    ("/system/functions", "deploy"),
    ("/system/function/", "deploy"),
    ("/system/logs", "logs"),
    ("/system/secrets", "secret"),
    ("/system/scale-function/", "scale"),
)
SERVED = (
    "it serves GET /system/functions, GET /system/function/NAME, GET /system/namespaces, "
    "GET /system/info and GET /healthz; its functions are fixed when it starts (--stack)"
)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class Caller:
    """Who called: the admin, or an API token's policies; `kind` is for the request log."""

    kind: str  # "basic" or "api"
    policies: tuple[str, ...] = ()

    @property
    def admin(self) -> bool:
        return self.kind == "basic"


def grants(statement_action: str, wanted: str) -> bool:
    if statement_action in ("*", wanted):
        return True
    return statement_action.endswith(":*") and wanted.startswith(statement_action[:-1])


def resource_matches(resource: str, target: str) -> bool:
    if resource == "*":
        return True
    pattern = ".*".join(re.escape(part) for part in resource.split("*"))
    return re.fullmatch(pattern, target) is not None


class SystemApi:
    def __init__(
        self,
        *,
        functions: Iterable[Function],
        key: Callable[[], SigningKey],
        iam: IamConfig,
        admin_password: str,
        invocations: Callable[[Function], int],
        version: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.functions = list(functions)
        self.key = key
        self.iam = iam
        self.admin_password = admin_password
        self.invocations = invocations
        self.version = version
        self.clock = clock
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))

    # -- routing --------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """The answer for a /system/ request; None for a path it does not know (404)."""
        path, method = request.path, request.method
        reads = {
            "/system/functions": self._list,
            "/system/namespaces": self._namespaces,
            "/system/info": self._info,
        }
        read: Callable[[Request, Caller], Response] | None = reads.get(path)
        name = path[len("/system/function/"):] if path.startswith("/system/function/") else ""
        if name and "/" not in name:
            read = self._describe
        write = next((cmd for prefix, cmd in WRITES if path.startswith(prefix)), None)
        if write == "deploy" and method == "DELETE":
            write = "remove"
        if read is None and write is None:
            return None
        caller = self._caller(request)
        if caller is None:
            response = text_response(401, "Unauthorized\n")
            response.headers.append(("Www-Authenticate", 'Basic realm="Restricted"'))
            return response
        if read is not None and method in ("GET", "HEAD"):
            response = read(request, caller)
        else:
            sent_by = f" (faas-cli {write})" if write else ""
            response = text_response(
                501, f"faasauth sandbox: {method} {path}{sent_by} is not served: {SERVED}\n"
            )
        response.token = caller.kind
        return response

    # -- who calls ------------------------------------------------------------------

    def _caller(self, request: Request) -> Caller | None:
        authorization = request.header("Authorization") or ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode(
                    "utf-8"
                ).partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            ok = hmac.compare_digest(user.encode(), ADMIN_USER.encode()) & hmac.compare_digest(
                password.encode(), self.admin_password.encode()
            )
            return Caller("basic") if ok else None
        if scheme.lower() != "bearer" or not value.strip():
            return None
        import jwt

        try:
            claims = self.key().verify(value.strip())
        except jwt.PyJWTError:  # a bad signature, an expired or a malformed token
            return None
        if "function" in claims:  # a function token is not an API token
            return None
        policies = claims.get("policy") or []
        return Caller("api", tuple(p for p in policies if isinstance(p, str)))

    def allowed(self, caller: Caller, action: str, targets: Iterable[str]) -> bool:
        if caller.admin:
            return True
        wanted = list(targets)
        for name in caller.policies:
            policy = self.iam.policies.get(name)
            for statement in policy.statements if policy is not None else ():
                if statement.effect == "Allow" and any(
                    grants(a, action) for a in statement.actions
                ) and any(resource_matches(r, t) for r in statement.resources for t in wanted):
                    return True
        return False

    @staticmethod
    def _forbidden(action: str, target: str) -> Response:
        return text_response(403, f"forbidden: {action} on {target} is not allowed\n")

    # -- the reads ------------------------------------------------------------------

    def status(self, function: Function, *, usage: bool = False) -> dict[str, Any]:
        """faas-provider's FunctionStatus, as faas-cli parses it (describe, list, ready)."""
        document: dict[str, Any] = {
            "name": function.name,
            "image": f"sandbox/{function.behaviour}:latest",
            "namespace": function.namespace,
            "envProcess": shlex.join(function.command) if function.command else "",
            "labels": {},
            "annotations": {},
            "replicas": 1,
            "availableReplicas": 1,
            "invocationCount": self.invocations(function),
            "createdAt": self.created_at,
        }
        if function.jwt_auth:
            document["envVars"] = {"jwt_auth": "true"}
        if usage:
            import resource

            memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            document["usage"] = {"cpu": 0, "totalMemoryBytes": memory}
        return document

    def _list(self, request: Request, caller: Caller) -> Response:
        namespace = _param(request, "namespace") or DEFAULT_NAMESPACE
        present = [f for f in self.functions if f.namespace == namespace]
        listed = [self.status(f) for f in present if self.allowed(caller, FUNCTION_READ, [f.ref])]
        if present and not listed:  # functions there, none of them readable
            return self._forbidden(FUNCTION_READ, f"{namespace}:*")
        return json_response(200, listed, token=caller.kind, no_store=False)

    def _describe(self, request: Request, caller: Caller) -> Response:
        name = request.path[len("/system/function/"):]
        namespace = _param(request, "namespace") or DEFAULT_NAMESPACE
        ref = f"{namespace}:{name}"
        if not self.allowed(caller, FUNCTION_READ, [ref]):
            return self._forbidden(FUNCTION_READ, ref)
        found = next((f for f in self.functions if f.ref == ref), None)
        if found is None:
            return text_response(404, f"function {name} not found in namespace {namespace}\n")
        usage = _param(request, "usage") in ("1", "true")
        return json_response(200, self.status(found, usage=usage), token=caller.kind,
                             no_store=False)

    def _namespaces(self, request: Request, caller: Caller) -> Response:
        names = sorted({f.namespace for f in self.functions} | {DEFAULT_NAMESPACE})
        readable = [
            ns for ns in names if self.allowed(caller, NAMESPACE_READ, [ns, f"{ns}:*"])
        ]
        return json_response(200, readable, token=caller.kind, no_store=False)

    def _info(self, request: Request, caller: Caller) -> Response:
        arch = platform.machine().lower()
        document = {
            "provider": {
                "provider": "faasauth-sandbox",
                "orchestration": "sandbox",
                "version": {"sha": "", "release": self.version},
            },
            "version": {"sha": "", "release": self.version, "commit_message": ""},
            "arch": _ARCH.get(arch, arch),
        }
        return json_response(200, document, token=caller.kind, no_store=False)


def _param(request: Request, name: str) -> str:
    return (parse_qs(request.query).get(name) or [""])[0]
