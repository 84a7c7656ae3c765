"""Function names and namespaces: the one rule faasauth reads and checks them by.

    NAME.NAMESPACE   the namespace after the last dot, as the gateway reads the service
                     in /function/<service> (faas-provider: filepath.Ext)
    NAME, NAMESPACE  each a DNS-1123 label, which is what faas-cli deploys: `faas-cli new`
                     and faas-netes' deploy check use the regular expression
                     ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, and Kubernetes allows 63 characters

`faasauth invoke` and the library's `invoke` refuse anything else before a request is sent
(`invoke a/b` went out as /function/a%2Fb, `--no-envsubst` as a namespace `${NS}`);
FunctionAuth only reads names from the URLs it is handed, with the same split.
"""

from __future__ import annotations

import re

from faasauth.errors import UsageFailure

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_LABEL = 63
RULE = ("a DNS-1123 label (what faas-cli deploys): at most 63 characters of a-z, 0-9 and "
        "'-', beginning and ending with a letter or digit")


def is_label(text: str) -> bool:
    return len(text) <= MAX_LABEL and _LABEL.fullmatch(text) is not None


def split_service(service: str) -> tuple[str, str | None]:
    """`NAME.NAMESPACE` -> (NAME, NAMESPACE); without a dot, (NAME, None)."""
    name, dot, namespace = service.rpartition(".")
    return (name, namespace) if dot else (service, None)


def function_and_namespace(
    name: str, namespace: str | None, namespace_source: str | None = None
) -> tuple[str, str | None]:
    """What `invoke NAME` calls: NAME in `namespace` (None: the gateway's default), or
    NAME.NAMESPACE when no namespace was set elsewhere; each part checked by the rule."""
    given, split = name, namespace is None and "." in name
    if split:
        name, namespace = split_service(name)
        namespace_source = f"'{given}'"
    if not name:
        raise UsageFailure("the function name is empty")
    if not is_label(name):
        hint = None
        if "." in name and split:
            hint = "NAME.NAMESPACE has one dot: the namespace is what follows the last one"
        elif "." in name:
            hint = (f"the namespace came from {namespace_source or 'the settings'}: give the "
                    "name alone, or NAME.NAMESPACE without it")
        elif "/" in name:
            hint = ("invoke calls /function/NAME; for a path below it, send the request "
                    "yourself with a token from 'faasauth exchange'")
        raise UsageFailure(f"invalid function name '{name}': a function name is {RULE}",
                           hint=hint)
    if namespace is not None and not is_label(namespace):
        source = f" (from {namespace_source})" if namespace_source else ""
        hint = None
        if "$" in namespace:
            hint = "a ${VARIABLE} left as written: --no-envsubst does not substitute the stack file"
        raise UsageFailure(
            f"invalid namespace '{namespace}'{source}: a namespace is {RULE}", hint=hint)
    return name, namespace
