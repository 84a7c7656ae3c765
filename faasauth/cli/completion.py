"""Shell completion: the scripts for each shell, and the dynamic values they ask for.

A TAB runs `faasauth` with `_FAASAUTH_COMPLETE` set, so everything here answers from local
files only: no network, no keyring, no PyYAML (the stack file is scanned line by line).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click
    from click.shell_completion import CompletionItem

SHELLS = {"bash": "faasauth.bash", "zsh": "_faasauth", "fish": "faasauth.fish"}
COMPLETE_VAR = "_FAASAUTH_COMPLETE"

_TOP_KEY = re.compile(r"^([A-Za-z0-9_.-]+)\s*:")
_CHILD_KEY = re.compile(r"^(\s+)([A-Za-z0-9_.-]+)\s*:")
_NAMESPACE = re.compile(r"^\s+namespace\s*:\s*['\"]?([A-Za-z0-9_.-]+)")


def scan_stack_file(directory: Path) -> tuple[list[str], list[str]]:
    """Function names and namespaces in the stack file, without a YAML parser.

    Good enough for completion: top-level `functions:` children at their first indentation,
    and any `namespace:` values beneath them.
    """
    for name in ("stack.yml", "stack.yaml"):
        path = directory / name
        if path.is_file():
            break
    else:
        return [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return [], []
    functions: list[str] = []
    namespaces: list[str] = []
    inside, indent = False, None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        top = _TOP_KEY.match(line)
        if top:
            inside, indent = top.group(1) == "functions", None
            continue
        if not inside:
            continue
        child = _CHILD_KEY.match(line)
        if child and (indent is None or len(child.group(1)) == indent):
            indent = len(child.group(1))
            functions.append(child.group(2))
            continue
        namespace = _NAMESPACE.match(line)
        if namespace:
            namespaces.append(namespace.group(1))
    return functions, namespaces


def _known_functions(gateway: str | None) -> list[tuple[str, str]]:
    """(namespace, name) of the functions remembered for `gateway` (all when None)."""
    from faasauth.store.remembered import RememberedFunctions
    from faasauth.config.settings import default_home
    from faasauth.store.home import Home

    home_value = os.environ.get("FAASAUTH_HOME")
    home = Home(Path(home_value).expanduser() if home_value else default_home())
    if not home.path.is_dir():
        return []
    return [(f.namespace, f.name) for f in RememberedFunctions(home).known(gateway)]


def _gateway(ctx: click.Context) -> str | None:
    from faasauth.errors import UsageFailure
    from faasauth.config.settings import normalise_gateway

    value = ctx.params.get("gateway") or os.environ.get("OPENFAAS_URL")
    try:
        return normalise_gateway(value) if value else None
    except UsageFailure:
        return None


def complete_function_name(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    names, _ = scan_stack_file(Path.cwd())
    names += [name for _, name in _known_functions(_gateway(ctx))]
    return [CompletionItem(n) for n in sorted(set(names)) if n.startswith(incomplete)]


def complete_namespace(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    _, namespaces = scan_stack_file(Path.cwd())
    namespaces += [namespace for namespace, _ in _known_functions(None)]
    namespaces.append("openfaas-fn")
    return [CompletionItem(n) for n in sorted(set(namespaces)) if n.startswith(incomplete)]


def complete_audience(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    targets = {f"{ns}:{name}" for ns, name in _known_functions(_gateway(ctx))}
    return [CompletionItem(t) for t in sorted(targets) if t.startswith(incomplete)]
