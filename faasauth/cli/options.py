"""Options shared by several commands, and the glue from click to a Runtime.

Imports only click: this module is on the `--help` path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

import click

if TYPE_CHECKING:
    from faasauth.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])
VERBOSE_KEY = "faasauth.verbose"


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta[VERBOSE_KEY] = True


def verbose_option(f: F) -> F:
    """-v/--verbose, accepted on the group and on every command alike."""
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbose,
        help="Log each HTTP request and response to stderr, secrets redacted.",
    )(f)


def _apply(f: F, decorators: list[Callable[[F], F]]) -> F:
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def gateway_choice_options(f: F) -> F:
    """Which gateway: -g/--gateway and the faas-cli stack file that may name it. Enough for
    commands that only read or remove what is stored (`status`, `logout`)."""
    return _apply(
        f,
        [
            click.option(
                "-g",
                "--gateway",
                metavar="URL",
                help="Gateway URL. [env: OPENFAAS_URL; stack.yml provider.gateway; "
                "default: http://127.0.0.1:8080]",
            ),
            click.option(
                "-f",
                "--yaml",
                "stack_file",
                metavar="STACK",
                help="faas-cli stack file for the gateway and namespaces. "
                "[default: stack.yaml or stack.yml here]",
            ),
            click.option(
                "--envsubst/--no-envsubst",
                default=True,
                show_default=True,
                help="Substitute environment variables in the stack file, as faas-cli does.",
            ),
        ],
    )


def gateway_options(f: F) -> F:
    """The gateway, and the TLS/timeout/logging options every networked command applies."""
    return _apply(
        f,
        [
            gateway_choice_options,
            click.option(
                "--tls-no-verify",
                is_flag=True,
                help="Do not verify TLS certificates (not for production).",
            ),
            click.option(
                "--cacert",
                metavar="FILE",
                help="CA bundle for TLS verification. [env: SSL_CERT_FILE]",
            ),
            click.option(
                "--timeout",
                metavar="SECONDS",
                help="Timeout for each network step (connecting, each read of an answer), "
                "not for the whole call, e.g. 30 or 30s. [default: 60s]",
            ),
            verbose_option,
        ],
    )


def lazy_completer(name: str) -> Callable[[click.Context, click.Parameter, str], Any]:
    """A shell_complete callback that imports faasauth.cli.completion only when TAB is pressed."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
        from faasauth.cli import completion

        return getattr(completion, name)(ctx, param, incomplete)

    return complete


def stack_filter_options(f: F) -> F:
    """faas-cli's --regex and --filter: which of the stack file's functions count."""
    f = click.option("--filter", "stack_filter", metavar="WILDCARD",
                     help="Only the stack file's functions matching WILDCARD ('*' wildcards).")(f)
    return click.option("--regex", "stack_regex", metavar="REGEX",
                        help="Only the stack file's functions matching REGEX.")(f)


def namespace_option(f: F) -> F:
    return click.option(
        "-n",
        "--namespace",
        metavar="NS",
        shell_complete=lazy_completer("complete_namespace"),
        help="Function namespace. [env: OPENFAAS_NS; stack.yml; default: openfaas-fn]",
    )(f)


def make_runtime(
    connection: Mapping[str, object],
    *,
    namespace: str | None = None,
    function: str | None = None,
) -> Runtime:
    """Resolve settings from the gateway options (`connection`, as click parsed them) and
    build the Runtime; it is closed when the click context ends."""
    from faasauth.config.settings import StackChoice, resolve_settings
    from faasauth.runtime import Runtime

    def text(name: str) -> str | None:
        value = connection.get(name)
        return value if isinstance(value, str) else None

    click_ctx = click.get_current_context()
    settings = resolve_settings(
        gateway=text("gateway"),
        namespace=namespace,
        function=function,
        tls_no_verify=bool(connection.get("tls_no_verify")),
        cacert=text("cacert"),
        timeout=text("timeout"),
        verbose=bool(click_ctx.find_root().meta.get(VERBOSE_KEY)),
        stack_file=StackChoice(
            path=text("stack_file"),
            envsubst=connection.get("envsubst") is not False,
            regex=text("stack_regex"),
            filter=text("stack_filter"),
        ),
    )
    runtime = Runtime(settings)
    click_ctx.call_on_close(runtime.close)
    return runtime
