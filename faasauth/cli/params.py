"""Click parameter types for values faasauth checks itself: -H, --query, --audience, -m.

A bad value is a UsageFailure (exit 2, the one-line `faasauth: ...` form), raised while
click parses the command line, before anything is read or sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def parse_header(text: str) -> tuple[str, str]:
    """`Key: Value`, or faas-cli's older `key=value` (with a warning)."""
    from faasauth.errors import UsageFailure

    name, sep, value = text.partition(":")
    if sep and _is_token(name.strip()):
        if not value.strip():  # faas-cli refuses it too ("empty value given")
            raise UsageFailure(f"invalid header {name.strip()!r}: its value is empty; use -H "
                               "'Key: Value'")
        if not value.isascii() or not value.strip().isprintable():
            raise UsageFailure(
                f"invalid header {name.strip()}: its value must be printable ASCII "
                "(percent-encode other characters)"
            )
        return name.strip(), value.strip()
    name, sep, value = text.partition("=")
    if sep and _is_token(name):
        if not value:
            raise UsageFailure(f"invalid header {name!r}: its value is empty; use -H "
                               "'Key: Value'")
        from faasauth.console import warn

        warn(f"-H {name}=...: the key=value form is deprecated; use 'Key: Value'")
        return name, value
    raise UsageFailure(f"invalid header {text!r}: use -H 'Key: Value'")


def parse_query(text: str) -> tuple[str, str]:
    from faasauth.errors import UsageFailure

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageFailure(f"invalid query parameter {text!r}: use --query key=value")
    return key, value


def parse_audience(value: str) -> str:
    """`NS:NAME`, both parts non-empty (`*` allowed as the name)."""
    from faasauth.errors import UsageFailure

    namespace, sep, name = value.partition(":")
    if not sep or not namespace or not name or ":" in name or any(c.isspace() for c in value):
        raise UsageFailure(
            f"invalid audience {value!r}: use NAMESPACE:NAME, e.g. openfaas-fn:figlet"
        )
    return value


if TYPE_CHECKING:  # generic in click 8.2 and later, not at run time in 8.1
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


class _Checked(_ParamType):
    def __init__(self, name: str, parse: Any) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # a default, already converted
            return value
        return self._parse(value)


HEADER = _Checked("header", parse_header)
QUERY = _Checked("query", parse_query)
AUDIENCE = _Checked("audience", parse_audience)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class _Method(_ParamType):
    """-m/--method: any case in, upper case out, and upper case in errors and completion."""

    name = "method"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        method = str(value).upper()
        if method not in METHODS:
            self.fail(f"{value!r} is not one of {', '.join(METHODS[:-1])} or {METHODS[-1]}",
                      param, ctx)
        return method

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(m) for m in METHODS if m.startswith(incomplete.upper())]


METHOD = _Method()


class GrantChoice(click.Choice[str]):
    """--grant: its choices in help and completion; `implicit` is accepted only to be
    refused with the reason (faasauth.idp.grants), never offered."""

    REFUSED = ("implicit",)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value in self.REFUSED:
            return value
        return super().convert(value, param, ctx)
