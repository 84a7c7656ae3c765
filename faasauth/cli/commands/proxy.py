from __future__ import annotations

import click

from faasauth.cli.options import gateway_options, lazy_completer, make_runtime
from faasauth.cli.params import AUDIENCE


def _port(value: str) -> int | None:
    if value.strip().lower() == "none":
        return None
    if not value.strip().isdigit() or int(value) > 65535:
        raise click.BadParameter(f"{value!r} is not a port (0-65535, or 'none')")
    if int(value) == 8080:
        raise click.BadParameter("8080 is the usual gateway port-forward; choose another "
                                 "(0 picks a free one)")
    return int(value)


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from faasauth.config.settings import parse_timeout
    from faasauth.errors import UsageFailure

    try:
        return parse_timeout(value if value[-1:].isalpha() else value + "s")
    except UsageFailure:
        raise click.BadParameter(f"{value!r} is not a duration (e.g. 90s, 30m)") from None


def _run_cli() -> None:
    """What the proxy runs for a `faasauth invoke` handed to it: the same main."""
    from faasauth.cli.app import main

    main(None)


def _uids(values: tuple[str, ...]) -> frozenset[int] | None:
    if any(v.strip().lower() == "any" for v in values):
        return None
    try:
        uids = frozenset(int(v) for v in values)
        if any(uid < 0 for uid in uids):
            raise ValueError("negative")
        return uids
    except ValueError:
        raise click.BadParameter("a user id is a number (see `id -u NAME`), or 'any'",
                                 param_hint="'--allow-uid'") from None


@click.command("proxy")
@gateway_options
@click.option("--port", default="0", show_default=True, metavar="N",
              help="Serve HTTP on 127.0.0.1:N (0 picks a free port; 'none' serves only the "
              "unix socket).")
@click.option("--socket", "socket_path", metavar="PATH",
              help="The unix socket to serve on. [default: one per gateway in the faasauth home]")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
              help="Let web pages at ORIGIN (e.g. http://localhost:3000) call functions "
              "through the proxy; repeat for several.")
@click.option("--allow-uid", "allow_uids", multiple=True, metavar="UID",
              help="Also serve this local user over TCP (by default only yours: the owner of "
              "each caller's connection is checked); 'any' serves every user who can reach "
              "127.0.0.1, as a pod's sidecar whose app runs as another user.")
@click.option("--auth", is_flag=True,
              help="Send a function token on every call, as invoke --auth (async calls need it "
              "unless the function is remembered).")
@click.option("--audience", metavar="NS:NAME", type=AUDIENCE,
              shell_complete=lazy_completer("complete_audience"),
              help="Ask for tokens for this audience. [default: each call's NAMESPACE:NAME]")
@click.option("--idle-exit", metavar="DURATION",
              help="Exit after DURATION (e.g. 30m) without a call.")
@click.option("--background", is_flag=True,
              help="Serve from a detached process; print the shell exports once it serves.")
@click.option("--stop", "stop_it", is_flag=True, help="Stop the proxy serving this gateway.")
@click.option("--no-handoff", is_flag=True, hidden=True)
def command(
    port: str,
    socket_path: str | None,
    allow_origins: tuple[str, ...],
    allow_uids: tuple[str, ...],
    auth: bool,
    audience: str | None,
    idle_exit: str | None,
    background: bool,
    stop_it: bool,
    no_handoff: bool,
    **connection: object,
) -> int:
    """Serve the gateway's functions on localhost with your login: tokens added and renewed.

    Any tool can then call protected functions without a token of its own, and
    `faasauth invoke` hands its work to the proxy and starts faster. Serves only this
    machine's loopback and a 0600 unix socket; web pages of other sites are refused.

    \b
    Examples:
      eval "$(faasauth proxy --background)"
      curl --unix-socket "$FAASAUTH_PROXY" http://localhost/function/figlet -d hi
      curl "$FAASAUTH_PROXY_URL/function/figlet" -d hi
      faasauth proxy --stop
    """
    import sys

    from faasauth.proxy.guard import normal_origin
    from faasauth.proxy.lifecycle import ProxyOptions, serve, serve_in_background, stop

    rt = make_runtime(connection)
    if stop_it:
        return stop(rt, socket_path, sys.stderr)
    try:
        origins = frozenset(normal_origin(o) for o in allow_origins)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--allow-origin'") from None
    options = ProxyOptions(
        port=_port(port),
        socket_path=socket_path,
        allow_origins=origins,
        allow_uids=_uids(allow_uids),
        always=auth,
        audience=audience,
        idle_exit=_duration(idle_exit),
        command=None if no_handoff else _run_cli,
        preload=("faasauth.cli.commands.invoke",),
    )
    if background:
        return serve_in_background(rt, options, out=sys.stdout, err=sys.stderr)
    return serve(rt, options, out=sys.stdout, err=sys.stderr)
