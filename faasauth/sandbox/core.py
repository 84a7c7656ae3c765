"""`Sandbox`: the IdP and the gateway wired together, in this process, on 127.0.0.1.

    from faasauth.sandbox import Sandbox

    with Sandbox(auto_approve=True) as sb:
        env = sb.env()            # OPENFAAS_URL, FAASAUTH_AUTHORITY, FAASAUTH_CLIENT_ID/SECRET
        token = sb.issue_function_token(["openfaas-fn:echo-auth"])
        ...
        assert sb.count("/oauth/token") == 1

Everything is in memory and forgotten at stop; keys and the client secret are new each run.
"""

from __future__ import annotations

import errno
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from faasauth.errors import UsageFailure
from faasauth.sandbox import iam as iam_objects
from faasauth.sandbox.ci import DEFAULT_CI_TOKEN_TTL, DEFAULT_REPOSITORY, CiPlatform
from faasauth.sandbox.device import DEFAULT_LOGIN, DeviceCodes
from faasauth.sandbox.exchange import TokenExchange
from faasauth.sandbox.functions import Function, default_functions, load_stack
from faasauth.sandbox.gateway import Gateway
from faasauth.sandbox.idp import IdentityProvider
from faasauth.sandbox.issuing import TokenIssuing
from faasauth.sandbox.keys import SigningKey
from faasauth.sandbox.requestlog import RequestLog, RequestRecord
from faasauth.sandbox.server import SandboxHTTPServer
from faasauth.sandbox.system_api import ADMIN_USER
from faasauth.sandbox.watchdog import RELEASED, Watchdog

if TYPE_CHECKING:
    from faasauth.sandbox.tls import ThrowawayTLS

DEFAULT_CLIENT_ID = "faasauth-sandbox"
# With tls: where each kind of client looks for the CA to trust. SSL_CERT_FILE: faasauth,
# Python's ssl (httpx), Go's crypto/x509 (faas-cli); REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE):
# requests, so the OpenFaaS Python SDK; CURL_CA_BUNDLE: the curl command (not SSL_CERT_FILE);
# NODE_EXTRA_CA_CERTS: Node.js, added to its own roots (tests/e2e/test_tls_e2e.py runs each).
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
DEFAULT_PUBLIC_CLIENT_ID = "faasauth-cli"

IamSource = str | Path | Sequence[Mapping[str, Any]] | None
StackSource = str | Path | Mapping[str, Any] | None


class Sandbox(TokenIssuing):
    """A local OpenFaaS gateway with IAM function authentication plus an OpenID provider.

    port: the gateway's port (0: any free one); the IdP gets its own (`idp_port`, 0: free).
    iam: a YAML file or directory of JwtIssuer/Policy/Role objects, or a list of such objects
        as dicts; None: trust the sandbox IdP and let all its clients and users invoke every
        function. The sandbox IdP is always a trusted JwtIssuer unless `iam` defines one for
        the same issuer.
    stack: a faas-cli stack file (or its parsed mapping) whose functions to serve instead of
        echo, env, echo-auth and env-auth.
    auto_approve: approve device codes at once; send browser logins straight back with a code.
    latency_ms: delay added to every response (not to /_sandbox/ ones).
    watchdog: "released" (faas-middleware 1.2.x, the default) or "hardened" (its main branch).
    device_code_ttl, device_interval, token_ttl, refresh_token_ttl, code_ttl: seconds.
    tls: serve HTTPS on both origins, with a throw-away CA (`ca_file`, also in `env()` as
        SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and NODE_EXTRA_CA_CERTS) and a certificate for 127.0.0.1 and localhost (sandbox/tls.py).
    log: a stream for one line per request (e.g. sys.stderr); None: silent.
    clock: the time source for every expiry decision (a fake one makes expiry testable).
    ci: "github", "gitlab" or "kubernetes": also play that platform (sandbox/ci.py), with
        CI tokens living `ci_token_ttl` seconds for `ci_repository` (GitHub, GitLab) or
        `ci_service_account` (Kubernetes, `NS:NAME`) in `ci_token_file` (Kubernetes).
    functions: the user's own functions, served beside the others (replacing one of the same
        name): `user_functions.http_function(name, url)` and `exec_function(name, command)`.
    admin_password: the gateway's basic-auth password for `admin` (None: a new random one),
        in `env()` as OPENFAAS_USERNAME and OPENFAAS_PASSWORD, for `faas-cli login`.
    """

    def __init__(
        self,
        port: int = 0,
        iam: IamSource = None,
        stack: StackSource = None,
        auto_approve: bool = False,
        latency_ms: int = 0,
        *,
        idp_port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str | None = None,
        public_client_id: str = DEFAULT_PUBLIC_CLIENT_ID,
        device_code_ttl: float = 600,
        device_interval: float = 1,
        token_ttl: float = 3600,
        refresh_token_ttl: float = 86400,
        code_ttl: float = 60,
        watchdog: str = RELEASED,
        tls: bool = False,
        log: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        ci: str | None = None,
        ci_token_ttl: float = DEFAULT_CI_TOKEN_TTL,
        ci_repository: str = DEFAULT_REPOSITORY,
        ci_service_account: str | None = None,
        ci_token_file: str | Path | None = None,
        admin_password: str | None = None,
        functions: Sequence[Function] = (),
    ) -> None:
        self.port = port
        self.idp_port = idp_port
        self.iam_source = iam
        self.stack_source = stack
        self.own_functions = list(functions)
        self.auto_approve = auto_approve
        self.latency_ms = latency_ms
        self.client_id = client_id
        self.client_secret = (
            client_secret if client_secret is not None else secrets.token_urlsafe(24)
        )
        self.public_client_id = public_client_id
        self.admin_password = (
            admin_password if admin_password is not None else secrets.token_urlsafe(24)
        )
        self.device_code_ttl = device_code_ttl
        self.device_interval = device_interval
        self.token_ttl = token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.code_ttl = code_ttl
        self.watchdog_mode = watchdog
        self.tls = tls
        self._tls: ThrowawayTLS | None = None
        self.clock = clock
        self.log = RequestLog(log)
        self.functions: list[Function] = []
        self.iam: iam_objects.IamConfig | None = None
        self.iam_warnings: list[str] = []
        self.started_in_ms: float | None = None
        self._servers: list[SandboxHTTPServer] = []
        self._idp: IdentityProvider | None = None
        self._gateway: Gateway | None = None
        self.ci_platform = ci
        self.ci_options: dict[str, Any] = {
            "token_ttl": ci_token_ttl,
            "repository": ci_repository,
            "token_file": ci_token_file,
        }
        if ci_service_account is not None:
            self.ci_options["service_account"] = ci_service_account
        self._ci: CiPlatform | None = None
        self.home: str | None = None  # a throw-away FAASAUTH_HOME, from start() to stop()

    # -- life cycle -----------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Sandbox:
        begun = time.perf_counter()
        served = default_functions() if self.stack_source is None else load_stack(self.stack_source)
        own = {f.ref for f in self.own_functions}
        self.functions = [f for f in served if f.ref not in own] + self.own_functions
        if self.iam_source is None:
            documents = None
        elif isinstance(self.iam_source, (str, Path)):
            documents = iam_objects.read_documents(self.iam_source)
        else:
            documents = [(f"iam object {i}", doc) for i, doc in enumerate(self.iam_source, 1)]
        if self.tls:
            from faasauth.sandbox.tls import ThrowawayTLS

            self._tls = ThrowawayTLS()
        gateway_server = self._listen(self.port, "gateway")
        try:
            idp_server = self._listen(self.idp_port, "idp")
        except BaseException:
            gateway_server.server_close()
            raise
        self._servers = [gateway_server, idp_server]
        if self.ci_platform is not None:
            try:
                self._servers.append(self._listen(0, "ci"))
            except BaseException:
                for server in self._servers:
                    server.server_close()
                raise
        try:
            if self.ci_platform is not None:
                self._ci = CiPlatform(
                    self.ci_platform,
                    issuer=self._servers[2].url,
                    audience=gateway_server.url,
                    clock=self.clock,
                    **self.ci_options,
                )
            self._wire(gateway_server, idp_server, documents)
        except BaseException:
            for server in self._servers:
                server.server_close()
            if self._ci is not None:
                self._ci.stop()
                self._ci = None
            self._servers = []
            raise
        self.home = tempfile.mkdtemp(prefix="faasauth-sandbox-home-")  # 0700
        self.started_in_ms = (time.perf_counter() - begun) * 1000
        return self

    def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.stop()
        if self._ci is not None:
            self._ci.stop()
        if self._tls is not None:
            self._tls.remove()
            self._tls = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    def _listen(self, port: int, origin: str) -> SandboxHTTPServer:
        try:
            return SandboxHTTPServer(
                port,
                origin,
                on_record=self.log.add,
                latency_ms=self.latency_ms,
                tls=self._tls.context if self._tls is not None else None,
            )
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            why = "address already in use" if in_use else (exc.strerror or str(exc))
            raise UsageFailure(
                f"cannot listen on 127.0.0.1:{port} for the sandbox {origin}: {why}") from None

    def _wire(
        self,
        gateway_server: SandboxHTTPServer,
        idp_server: SandboxHTTPServer,
        documents: list[tuple[str, Any]] | None,
    ) -> None:
        gateway_url, authority = gateway_server.url, idp_server.url
        client_ids = [self.client_id, self.public_client_id]
        placeholders = {"FAASAUTH_AUTHORITY": authority, "OPENFAAS_URL": gateway_url}
        ci = self._ci
        if ci is not None:
            placeholders["FAASAUTH_CI_ISSUER"] = ci.issuer
        if documents is None:
            namespaces = sorted({f.namespace for f in self.functions})
            documents = iam_objects.default_documents(authority, namespaces)
            if ci is not None:
                documents += ci.default_documents(namespaces)
        config = iam_objects.build_config(documents, placeholders)
        if config.issuer_for(authority) is None:  # the sandbox IdP is always trusted
            config.issuers.append(iam_objects.sandbox_issuer(authority, client_ids))
        if ci is not None and config.issuer_for(ci.issuer) is None:  # so is the CI issuer
            config.issuers.append(ci.jwt_issuer())
        self.iam = config
        self.iam_warnings = [
            f"Role {r.name!r} refers to Policy {p!r}, which is not defined"
            for r in config.roles
            for p in r.policies
            if p not in config.policies
        ]
        idp_key, gateway_key = SigningKey.generate(), SigningKey.generate()
        self._idp = IdentityProvider(
            issuer=authority,
            key=idp_key,
            client_id=self.client_id,
            client_secret=self.client_secret,
            public_client_id=self.public_client_id,
            clock=self.clock,
            token_ttl=self.token_ttl,
            refresh_token_ttl=self.refresh_token_ttl,
            device_codes=DeviceCodes(
                clock=self.clock,
                ttl=self.device_code_ttl,
                interval=self.device_interval,
                auto_approve=self.auto_approve,
            ),
            code_ttl=self.code_ttl,
        )
        exchange = TokenExchange(
            issuer=gateway_url,
            key=gateway_key,
            iam=config,
            local_issuers={authority: idp_key, **({ci.issuer: ci.key} if ci else {})},
            clock=self.clock,
        )
        watchdog = Watchdog(
            issuer=gateway_url,
            keys={gateway_key.kid: gateway_key.public_key},
            mode=self.watchdog_mode,
            clock=self.clock,
        )
        self._gateway = Gateway(
            url=gateway_url,
            key=gateway_key,
            exchange=exchange,
            watchdog=watchdog,
            functions=self.functions,
            requests=self.log,
            admin_password=self.admin_password,
        )
        idp_server.start(self._idp.handle)
        gateway_server.start(self._gateway.handle)
        if ci is not None:
            ci.start()
            self._servers[2].start(ci.handle)

    # -- where it is ----------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self._running_gateway().url

    @property
    def authority(self) -> str:
        """The IdP's issuer URL (its discovery document is under /.well-known/)."""
        assert self._idp is not None, "the sandbox is not started"
        return self._idp.issuer

    @property
    def ca_file(self) -> str | None:
        """With `tls`: the CA certificate to trust (`--cacert`, SSL_CERT_FILE)."""
        return str(self._tls.ca_file) if self._tls is not None else None

    def env(self) -> dict[str, str]:
        """Its URLs and credentials, and a throw-away FAASAUTH_HOME (the user's store is safe)."""
        env = {
            "OPENFAAS_URL": self.gateway_url,
            "FAASAUTH_AUTHORITY": self.authority,
            "FAASAUTH_CLIENT_ID": self.client_id,
            "FAASAUTH_CLIENT_SECRET": self.client_secret,
            "OPENFAAS_USERNAME": ADMIN_USER,
            "OPENFAAS_PASSWORD": self.admin_password,
            **(self._ci.env() if self._ci is not None else {}),
            **({"FAASAUTH_HOME": self.home, "FAASAUTH_TOKEN_STORE": "file"} if self.home else {}),
        }
        if self.ca_file is not None:
            env.update(dict.fromkeys(CA_VARIABLES, self.ca_file))
        return env

    @property
    def ci(self) -> CiPlatform:
        """The CI platform played (`Sandbox(ci=...)`): its issuer, `mint()`, counters."""
        assert self._ci is not None, "the sandbox plays no CI platform (pass ci=...)"
        return self._ci

    # -- observing ------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests answered so far, oldest first."""
        return self.log.snapshot()

    def count(self, path_prefix: str = "", **filters: Any) -> int:
        """Requests whose path starts with `path_prefix` (and origin=, method=, status=, token=)."""
        return self.log.count(path_prefix, **filters)

    def clear_requests(self) -> None:
        self.log.clear()

    @property
    def async_calls(self) -> list[dict[str, Any]]:
        """Completed async invocations: call_id, function (ns:name) and the status it answered."""
        gateway = self._running_gateway()
        with gateway._lock:
            return list(gateway.async_calls)

    def wait_async(self, timeout: float = 5.0) -> bool:
        """Wait until the async invocations accepted so far have run; False on timeout."""
        return self._running_gateway().wait_async(timeout)

    # -- the device grant's person ------------------------------------------------------

    def approve(self, user_code: str, login: str = DEFAULT_LOGIN) -> None:
        """Approve a pending user code as `login` (LookupError if unknown, expired or used)."""
        self._running_idp().devices.decide(user_code, True, login)

    def deny(self, user_code: str) -> None:
        self._running_idp().devices.decide(user_code, False)

    def pending_user_codes(self) -> list[str]:
        return self._running_idp().devices.pending_user_codes()

    # -- tokens for tests -----------------------------------------------------------

    def _running_gateway(self) -> Gateway:
        assert self._gateway is not None, "the sandbox is not started"
        return self._gateway

    def _running_idp(self) -> IdentityProvider:
        assert self._idp is not None, "the sandbox is not started"
        return self._idp
