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
    """The status as text that reads at 80 columns: one gateway per block, the current one
    first, a label and a value per line, so no URL or grant name is ever split; function
    tokens grouped by whose they are."""
    store = status["store"]
    current = status["gateway"]
    lines = [
        f"Token store  {store['backend']} ({store['reason']})",
        f"             {store['location']}",
    ]
    others = {item["gateway"] for item in status["logins"]} | {
        item["gateway"] for item in status["function_tokens"] if item["gateway"]}
    gateways = [current, *sorted(others - {current})]
    for gateway in gateways:
        lines += ["", f"Gateway {gateway}" + ("  (current)" if gateway == current else "")]
        login = next((item for item in status["logins"] if item["gateway"] == gateway), None)
        lines += _login_lines(login)
        # Whose, and whether for this login: the same `sub` logged in earlier with another
        # client has tokens of its own, which would otherwise read as the same rows twice.
        by_whose: dict[tuple[bool, str], list[dict[str, Any]]] = {}
        for item in status["function_tokens"]:
            if item["gateway"] == gateway:
                whose_key = (not item["from_login"], item["subject"] or "")
                by_whose.setdefault(whose_key, []).append(item)
        for (other, subject), tokens in sorted(by_whose.items()):
            whose = f" for {subject}" if subject else " (whose: unknown)"
            if other and login is not None:
                whose += ", from another login or token"
            lines.append(f"  function tokens{whose}:")
            lines += [_token_line(item) for item in tokens]
        if not by_whose:
            lines.append("  function tokens: none")
        proxy = status.get("proxy")
        if gateway == current and proxy:
            where = " and ".join(str(p) for p in (proxy.get("url"), proxy.get("socket")) if p)
            lines += [f"  proxy: serving on {where}",
                      f"         process {proxy.get('pid')}, {proxy.get('calls')} calls so far"]
    return lines


def _token_line(item: dict[str, Any]) -> str:
    audience = ", ".join(item["audience"]) or "(any permitted function)"
    left = _duration(item["expires_in"])
    left = left if left in ("expired", "unknown") else f"{left} left"
    return f"    {audience:<28} {left:>11}  {item['token']}"


def _login_lines(login: dict[str, Any] | None) -> list[str]:
    if login is None:
        return ["  login      none (run: faasauth auth)"]
    who = login["subject"] or "-"
    if login["issuer"]:
        who += f" at {login['issuer']}"
    left = _duration(login["expires_in"])
    if login["expired"]:
        expires = "expired; " + ("renews by itself" if login["refreshable"]
                                 else "run: faasauth auth")
    else:
        expires = f"in {left}" if left != "unknown" else "unknown"
        expires += "; renews by itself" if login["refreshable"] else "; then: faasauth auth"
    return [
        f"  login      {who}",
        f"  grant      {login['grant']}",
        f"  expires    {expires}",
        f"  token      {login['token']}",
        *_faas_cli_lines(login),
    ]


def _faas_cli_lines(login: dict[str, Any]) -> list[str]:
    """faas-cli's entry `auth --faas-cli` wrote from the login, and its API token's fate."""
    entry = login.get("faas_cli")
    if not entry:
        return []
    if entry["state"] == "replaced":
        state = "its entry holds another token now (faas-cli login?): not renewed"
    elif entry["state"] == "unreadable":
        state = "the file cannot be read: not renewed until it can"
    elif login["expired"] and not login["refreshable"]:
        left = "expired" if entry["expired"] else f"expires in {_duration(entry['expires_in'])}"
        state = f"API token {left}; then: faasauth auth --faas-cli"
    elif entry["expired"]:
        state = "API token expired; renewed as faasauth next uses the login"
    elif entry["expires_in"] is None:
        state = "API token expiry unknown; renewed with the login"
    else:
        state = f"API token expires in {_duration(entry['expires_in'])}; renewed with the login"
    return [f"  faas-cli   {entry['config']}", f"             {state}"]


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
    from faasauth.console import warn

    store = status["store"]
    if store["plain_file"] and (status["logins"] or status["function_tokens"]):
        where = f"tokens are kept in plain files under {store['location']} (readable by you " \
            "and root only)"
        if store.get("keyring_available"):
            where += "; an OS keyring answers here: FAASAUTH_TOKEN_STORE=keyring keeps them there"
        warn(where)
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
        return
    sys.stdout.write("\n".join(_status_lines(_shown(status))) + "\n")
