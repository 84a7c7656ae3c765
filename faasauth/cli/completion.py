"""Shell completion: the scripts for each shell, and the dynamic values they ask for.

A TAB runs `faasauth` with `_FAASAUTH_COMPLETE` set, so everything here answers from local
files (no keyring, no PyYAML: the stack file is scanned line by line), except one thing:
function names also come from the gateway's function list, asked within LIST_TIMEOUT
seconds in all and kept LIST_TTL seconds in the home (a failure to answer, FAILURE_TTL
seconds: the next TAB does not wait again); see faasauth.gateway.listing for what is sent.
A cache that is not what we wrote (damaged, edited) is a miss, never an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click
    from click.shell_completion import CompletionItem

    from faasauth.store.home import Home

SHELLS = {"bash": "faasauth.bash", "zsh": "_faasauth", "fish": "faasauth.fish"}
COMPLETE_VAR = "_FAASAUTH_COMPLETE"
LIST_CACHE = "function-lists.json"  # in the home: names only, never a credential
LIST_TTL = 60.0  # seconds a gateway's answer is reused
FAILURE_TTL = 15.0  # seconds a gateway's failure to answer (in time) is reused
LIST_TIMEOUT = 1.0  # seconds for the whole listing: connecting, headers and body

_TOP_KEY = re.compile(r"^([A-Za-z0-9_.-]+)\s*:")
_CHILD_KEY = re.compile(r"^(\s+)([A-Za-z0-9_.-]+)\s*:")
_NAMESPACE = re.compile(r"^\s+namespace\s*:\s*['\"]?([A-Za-z0-9_.-]+)")


# click's fish script splits each answer at every comma ("plain,--timeout\tTimeout for
# each network step (connecting, each read...") and keeps the second piece only, so a
# description, or a value, stops at its first comma. This one splits at the first comma
# only; the rest is click's script as it is. `register_fish` puts it in click's place.
_FISH_SOURCE = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split --max 1 "," -- $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments \
"(%(complete_func)s)";
"""


def register_fish() -> None:
    """Make click answer `fish` (the script and each TAB) with the script above."""
    from click.shell_completion import FishComplete, add_completion_class

    class FaasauthFishComplete(FishComplete):
        source_template = _FISH_SOURCE

    add_completion_class(FaasauthFishComplete, "fish")


def scan_stack_file(directory: Path) -> tuple[list[str], list[str]]:
    """Function names and namespaces in the stack file, without a YAML parser.

    Good enough for completion: top-level `functions:` children at their first indentation,
    and any `namespace:` values beneath them.
    """
    for name in ("stack.yaml", "stack.yml"):  # faas-cli's order, as in config.settings
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


def _home() -> Home | None:
    from faasauth.config.settings import default_home
    from faasauth.store.home import Home

    home_value = os.environ.get("FAASAUTH_HOME")
    home = Home(Path(home_value).expanduser() if home_value else default_home())
    return home if home.path.is_dir() else None


def _known_functions(gateway: str | None) -> list[tuple[str, str]]:
    """(namespace, name) of the functions remembered for `gateway` (all when None)."""
    from faasauth.store.remembered import RememberedFunctions

    home = _home()
    if home is None:
        return []
    return [(f.namespace, f.name) for f in RememberedFunctions(home).known(gateway)]


def _listed_functions(ctx: click.Context, gateway: str) -> list[str]:
    """The gateway's function list for the namespace on the command line (or OPENFAAS_NS),
    from the home's cache when asked less than LIST_TTL seconds ago (FAILURE_TTL when it
    did not answer)."""
    import time

    from faasauth.config.faas_cli import faas_cli_authorization

    namespace = ctx.params.get("namespace") or os.environ.get("OPENFAAS_NS") or None
    credential = faas_cli_authorization(os.environ, gateway)
    # Asked with a credential or without: a refusal before `auth --faas-cli` is not reused
    # after it.
    key = f"{gateway} {namespace or ''} {'with' if credential else 'without'} credential"
    home = _home()
    cache = _read_cache(home) if home else {}
    cached = _cached_names(cache.get(key), time.time())
    if cached is not None:
        return cached
    from faasauth.gateway.listing import list_functions

    cacert = ctx.params.get("cacert") or os.environ.get("SSL_CERT_FILE")
    listed = list_functions(
        gateway,
        namespace,
        authorization=credential,
        timeout=LIST_TIMEOUT,
        verify=False if ctx.params.get("tls_no_verify") else (cacert or True),
    )
    if home is not None:
        now = time.time()  # after asking: a slow answer is fresh from when it came
        fresh = {k: v for k, v in cache.items() if _cached_names(v, now) is not None}
        fresh[key] = {"at": now, "names": listed}
        try:
            home.write_state(LIST_CACHE, fresh)
        except OSError:
            pass
    return listed or []


def _read_cache(home: Home) -> dict[str, Any]:
    """The cache file's entries; {} when it is missing or unreadable in any way (quietly:
    a TAB must print nothing but completions)."""
    import json

    from faasauth.errors import FaasauthError
    from faasauth.store.home import read_private_file

    try:
        raw = read_private_file(home.path / LIST_CACHE)
        data = json.loads(raw) if raw is not None else {}
    except (OSError, ValueError, RecursionError, FaasauthError):  # FaasauthError: a symlink
        return {}
    return data if isinstance(data, dict) else {}


def _cached_names(entry: object, now: float) -> list[str] | None:
    """The names an entry still holds ([] for a failure to answer), or None: stale, or not
    an entry we wrote (`"at": "soon"`, names that are not names) - a miss either way."""
    import math

    if not isinstance(entry, dict):
        return None
    at, names = entry.get("at"), entry.get("names")
    if not isinstance(at, (int, float)) or isinstance(at, bool):
        return None
    try:
        at = float(at)  # an integer of 400 digits overflows
    except OverflowError:
        return None
    if not math.isfinite(at):
        return None
    if names is None:
        ttl, found = FAILURE_TTL, []
    elif isinstance(names, list) and all(_is_name(n) for n in names):
        ttl, found = LIST_TTL, names
    else:
        return None
    return found if 0 <= now - at < ttl else None


def _is_name(value: object) -> bool:
    # The listing keeps only Kubernetes names; a shell must not be handed anything else.
    return isinstance(value, str) and value.isascii() and value.isprintable() and bool(value)


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
    gateway = _gateway(ctx)
    names += [name for _, name in _known_functions(gateway)]
    from faasauth.config.settings import DEFAULT_GATEWAY

    names += _listed_functions(ctx, gateway or DEFAULT_GATEWAY)
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
