from __future__ import annotations

import click

from typing import TYPE_CHECKING

from faasauth.cli.options import gateway_choice_options, verbose_option, make_runtime

if TYPE_CHECKING:
    from faasauth.runtime import Runtime


@click.command("status")
@gateway_choice_options
@verbose_option  # accepted after any command (it sends nothing to log)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
def command(as_json: bool, **connection: object) -> int:
    """Show stored logins and cached function tokens (masked).

    Exits 0 when a usable login exists for the gateway, 4 otherwise.

    \b
    Example:
      faasauth status --json | jq .logins
    """
    from faasauth.errors import ExitCode
    from faasauth.flows.status import collect_status
    from faasauth.cli.render import print_status

    rt = make_runtime(connection)
    status = collect_status(rt, keyring_check=as_json)
    shown = status.as_dict()
    shown["proxy"] = _running_proxy(rt)
    print_status(shown, as_json=as_json)
    return ExitCode.OK if status.usable_login else ExitCode.REFUSED


def _running_proxy(rt: Runtime) -> dict[str, object] | None:
    """The proxy serving this gateway (its own socket, or FAASAUTH_PROXY's), as it says."""
    import os

    from faasauth.proxy.lifecycle import default_socket, running_status

    for path in (os.environ.get("FAASAUTH_PROXY"), default_socket(rt)):
        if path and os.path.exists(path):
            found = running_status(path, timeout=1.0)
            if found is not None and found.get("gateway") == rt.settings.gateway:
                return found
    return None
