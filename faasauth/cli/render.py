"""Rendering results for stdout: exactly what was asked for, nothing else."""

from __future__ import annotations

import json
import sys
from typing import Any

from faasauth.tokens.function import FunctionToken


def print_function_token(token: FunctionToken, output: str, *, cached: bool, now: float) -> None:
    if output == "token":
        text = token.access_token
    elif output == "header":
        text = f"Authorization: Bearer {token.access_token}"
    else:
        left = token.seconds_left(now)
        text = json.dumps(
            {
                "access_token": token.access_token,
                "token_type": token.token_type,
                "expires_in": None if left is None else max(0, int(left)),
                "expires_at": None if token.expires_at is None else int(token.expires_at),
                "scope": token.scope,
                "audience": token.audience,
                "cached": cached,
            },
            indent=2,
        )
    sys.stdout.write(text + "\n")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _status_lines(status: dict[str, Any]) -> list[str]:
    store = status["store"]
    lines = [
        f"Gateway:     {status['gateway']}",
        f"Token store: {store['backend']} ({store['reason']}) in {store['location']}",
        "",
        "Logins:",
    ]
    for login in status["logins"] or []:
        marker = "*" if login["gateway"] == status["gateway"] else " "
        lines.append(
            f" {marker} {login['gateway']}  issuer={login['issuer'] or '-'}  "
            f"subject={login['subject'] or '-'}  grant={login['grant']}  "
            f"expires={_duration(login['expires_in'])}  "
            f"refreshable={'yes' if login['refreshable'] else 'no'}  token={login['token']}"
        )
    if not status["logins"]:
        lines.append("   none (run: faasauth auth)")
    lines += ["", "Function tokens:"]
    for item in status["function_tokens"] or []:
        audience = ",".join(item["audience"]) or "(any permitted function)"
        lines.append(
            f"   {item['gateway']}  audience={audience}  "
            f"left={_duration(item['expires_in'])}  token={item['token']}"
        )
    if not status["function_tokens"]:
        lines.append("   none")
    return lines


def _shown(value: Any) -> Any:
    """Every string of the status as a terminal may show it: a JWT's `sub` or `iss` is the
    server's text (escape sequences and newlines are shown, not obeyed)."""
    from faasauth.console import printable

    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def print_status(status: dict[str, Any], *, as_json: bool) -> None:
    from faasauth.console import plain_output, warn

    if status["store"]["plain_file"] and (status["logins"] or status["function_tokens"]):
        warn(
            f"tokens are kept in plain files under {status['store']['location']} "
            "(readable by you and root only); use FAASAUTH_TOKEN_STORE=keyring where available"
        )
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
        return
    status = _shown(status)
    if not plain_output(sys.stdout):
        _print_status_rich(status)
        return
    sys.stdout.write("\n".join(_status_lines(status)) + "\n")


def _print_status_rich(status: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    # Server text is never rich markup: `[bold]` in a subject stays those characters.
    status = {**status,
              "logins": [{k: escape(v) if isinstance(v, str) else v for k, v in login.items()}
                         for login in status["logins"]],
              "gateway": escape(status["gateway"])}
    store = status["store"]
    console.print(f"[bold]Gateway[/] {status['gateway']}")
    console.print(f"[bold]Token store[/] {store['backend']} ({store['reason']}) in {store['location']}")

    def table(title: str, *columns: str) -> Table:
        # URLs and masked tokens are folded, never cut: a truncated URL tells nothing.
        result = Table(title=title, title_justify="left", title_style="bold")
        for column in columns:
            result.add_column(column, overflow="fold")
        return result

    if status["logins"]:
        logins = table("Logins", "", "Gateway", "Issuer", "Subject", "Grant", "Expires",
                       "Refreshable", "Token")
        for login in status["logins"]:
            logins.add_row(
                "*" if login["gateway"] == status["gateway"] else "",
                login["gateway"], login["issuer"] or "-", login["subject"] or "-",
                login["grant"], _duration(login["expires_in"]),
                "yes" if login["refreshable"] else "no", login["token"],
            )
        console.print(logins)
    else:
        console.print("[bold]Logins[/] none (run: faasauth auth)")
    if status["function_tokens"]:
        tokens = table("Function tokens", "Gateway", "Audience", "Left", "Token")
        for item in status["function_tokens"]:
            tokens.add_row(item["gateway"], ",".join(item["audience"]) or "(any)",
                           _duration(item["expires_in"]), item["token"])
        console.print(tokens)
    else:
        console.print("[bold]Function tokens[/] none")
