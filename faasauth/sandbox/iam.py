"""OpenFaaS IAM objects (JwtIssuer, Policy, Role) as the gateway evaluates them.

Read from the same multi-document YAML users `kubectl apply` (`apiVersion:
iam.openfaas.com/v1`); documents of other kinds are skipped. A Role matches a token's
claims when every condition holds and, if a principal is given, the principal matches too:

    spec:
      policy: [invoke-dev]
      principal:                    # optional; also accepted inside `condition:`
        jwt:sub: [alice, bob]       # exact match, any one value
      condition:
        StringEqual:                # also StringEquals
          jwt:iss: ["https://idp.example.com"]
        StringLike:                 # `*` any run of characters, `?` one character
          jwt:email: ["*@example.com"]
        ForAnyValue:StringEqual:    # for list claims such as groups; ForAllValues: too
          jwt:groups: [openfaas-dev]

A claim that is a list matches a plain operator when any element does. A missing claim fails
its condition. A Policy grants `Function:Invoke` on its `resource` list through statements
with `effect: Allow` and an action of `Function:Invoke`, `Function:*` or `*`.

In the YAML, `${FAASAUTH_AUTHORITY}` and `${OPENFAAS_URL}` stand for the sandbox IdP's issuer
and the gateway's URL (their ports are chosen at start).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faasauth.errors import UsageFailure

API_GROUP = "iam.openfaas.com/"
INVOKE_ACTIONS = frozenset(["Function:Invoke", "Function:*", "*"])
OPERATORS = {"StringEqual": "equal", "StringEquals": "equal", "StringLike": "like"}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DEFAULT_TOKEN_EXPIRY = 300.0


class IamError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration (`30m`, `12h`, `1h30m`), in seconds."""
    text = text.strip()
    if not text or _DURATION.sub("", text) != "" or text[0] in "+-":
        raise IamError(f"invalid duration {text!r} (expected e.g. 30m, 12h, 1h30m)")
    return sum(float(number) * _UNITS[unit] for number, unit in _DURATION.findall(text))


@dataclass(frozen=True)
class JwtIssuer:
    name: str
    iss: str
    aud: tuple[str, ...] = ()
    token_expiry: float = DEFAULT_TOKEN_EXPIRY

    def accepts_audience(self, aud: Any) -> bool:
        if not self.aud:
            return True
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        return any(a in self.aud for a in audiences)


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    effect: str
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Statement, ...]

    def invoke_resources(self) -> list[str]:
        return [
            r
            for s in self.statements
            if s.effect == "Allow" and INVOKE_ACTIONS & set(s.actions)
            for r in s.resources
        ]


@dataclass(frozen=True)
class Condition:
    operator: str  # "equal" or "like"
    quantifier: str  # "", "any" or "all"
    claim: str
    values: tuple[str, ...]

    def holds(self, claims: Mapping[str, Any]) -> bool:
        if self.claim not in claims or claims[self.claim] is None:
            return False
        value = claims[self.claim]
        items = [_text(v) for v in value] if isinstance(value, list) else [_text(value)]
        if self.quantifier == "all":
            return bool(items) and all(self._match(i) for i in items)
        return any(self._match(i) for i in items)

    def _match(self, item: str) -> bool:
        if self.operator == "equal":
            return item in self.values
        return any(
            fnmatch.fnmatchcase(item, pattern.replace("[", "[[]")) for pattern in self.values
        )


@dataclass(frozen=True)
class Role:
    name: str
    policies: tuple[str, ...]
    principal: tuple[Condition, ...] = ()
    conditions: tuple[Condition, ...] = ()

    def matches(self, claims: Mapping[str, Any]) -> bool:
        return all(c.holds(claims) for c in self.principal) and all(
            c.holds(claims) for c in self.conditions
        )


@dataclass
class IamConfig:
    issuers: list[JwtIssuer] = field(default_factory=list)
    policies: dict[str, Policy] = field(default_factory=dict)
    roles: list[Role] = field(default_factory=list)

    def issuer_for(self, iss: str) -> JwtIssuer | None:
        return next((i for i in self.issuers if i.iss == iss), None)

    def policies_for(self, claims: Mapping[str, Any]) -> list[str]:
        """Names of existing policies bound by every Role the claims match, in order."""
        names: list[str] = []
        for role in self.roles:
            if role.matches(claims):
                names += [p for p in role.policies if p in self.policies and p not in names]
        return names

    def invoke_permissions(self, policy_names: Iterable[str]) -> list[str]:
        resources: list[str] = []
        for name in policy_names:
            policy = self.policies.get(name)
            if policy is not None:
                resources += [r for r in policy.invoke_resources() if r not in resources]
        return resources


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, (str, int, float, bool)):
        return (_text(value),)
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return tuple(_text(v) for v in value)
    raise IamError(f"{where} must be a string or a list of strings")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise IamError(f"{where} must be a mapping")
    return value


def _claim_name(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key.startswith("jwt:") or len(key) == 4:
        raise IamError(f"{where}: keys must look like jwt:<claim>, got {key!r}")
    return key[4:]


def _conditions(block: Mapping[str, Any], where: str) -> list[Condition]:
    found = []
    for op_name, claims in block.items():
        quantifier, _, base = str(op_name).rpartition(":")
        if quantifier not in ("", "ForAnyValue", "ForAllValues") or base not in OPERATORS:
            raise IamError(
                f"{where}: unsupported condition operator {op_name!r} "
                "(use StringEqual or StringLike, optionally ForAnyValue:/ForAllValues:)"
            )
        for key, values in _mapping(claims, f"{where}.{op_name}").items():
            found.append(
                Condition(
                    OPERATORS[base],
                    {"": "", "ForAnyValue": "any", "ForAllValues": "all"}[quantifier],
                    _claim_name(key, f"{where}.{op_name}"),
                    _strings(values, f"{where}.{op_name}.{key}"),
                )
            )
    return found


def _principal(block: Mapping[str, Any], where: str) -> list[Condition]:
    return [
        Condition("equal", "", _claim_name(k, where), _strings(v, f"{where}.{k}"))
        for k, v in block.items()
    ]


def _build(doc: Mapping[str, Any], config: IamConfig) -> None:
    kind = doc.get("kind")
    metadata = _mapping(doc.get("metadata"), "metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise IamError(f"{kind} without metadata.name")
    spec = _mapping(doc.get("spec"), f"{kind} {name!r}: spec")
    where = f"{kind} {name!r}: spec"
    if kind == "JwtIssuer":
        iss = spec.get("iss")
        if not isinstance(iss, str) or not iss:
            raise IamError(f"{where}.iss must be the issuer URL")
        aud = _strings(spec["aud"], f"{where}.aud") if spec.get("aud") is not None else ()
        expiry = spec.get("tokenExpiry")
        seconds = DEFAULT_TOKEN_EXPIRY if expiry is None else parse_duration(str(expiry))
        config.issuers.append(JwtIssuer(name, iss, aud, seconds))
    elif kind == "Policy":
        raw = spec.get("statement")
        if not isinstance(raw, list) or not raw:
            raise IamError(f"{where}.statement must be a non-empty list")
        statements = []
        for index, item in enumerate(raw):
            item = _mapping(item, f"{where}.statement[{index}]")
            effect = item.get("effect", "Allow")
            if effect != "Allow":
                raise IamError(
                    f"{where}.statement[{index}]: only effect: Allow is supported, got {effect!r}"
                )
            statements.append(
                Statement(
                    str(item.get("sid", index)),
                    _strings(item.get("action"), f"{where}.statement[{index}].action"),
                    effect,
                    _strings(item.get("resource"), f"{where}.statement[{index}].resource"),
                )
            )
        config.policies[name] = Policy(name, tuple(statements))
    elif kind == "Role":
        policies = _strings(spec.get("policy"), f"{where}.policy")
        condition = dict(_mapping(spec.get("condition"), f"{where}.condition"))
        inner_principal = _mapping(condition.pop("principal", None), f"{where}.condition.principal")
        principal = _principal(
            _mapping(spec.get("principal"), f"{where}.principal"), f"{where}.principal"
        )
        principal += _principal(inner_principal, f"{where}.condition.principal")
        config.roles.append(
            Role(
                name,
                policies,
                tuple(principal),
                tuple(_conditions(condition, f"{where}.condition")),
            )
        )


IAM_KINDS = ("JwtIssuer", "Policy", "Role")


def build_config(
    documents: Sequence[tuple[str, Any]], placeholders: Mapping[str, str]
) -> IamConfig:
    """IamConfig from (origin, document) pairs; UsageFailure names the file and document."""
    config = IamConfig()
    for origin, doc in documents:
        try:
            _add(_substitute(doc, placeholders), config)
        except IamError as exc:
            raise UsageFailure(f"{origin}: {exc}") from None
    return config


def _add(doc: Any, config: IamConfig) -> None:
    if not isinstance(doc, Mapping):
        raise IamError("a document must be a mapping")
    if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            _add(item, config)
    elif str(doc.get("apiVersion", "")).startswith(API_GROUP) and doc.get("kind") in IAM_KINDS:
        _build(doc, config)


def _substitute(value: Any, placeholders: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, replacement in placeholders.items():
            value = value.replace("${" + name + "}", replacement)
        return value
    if isinstance(value, list):
        return [_substitute(v, placeholders) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, placeholders) for k, v in value.items()}
    return value


def read_documents(source: str | Path) -> list[tuple[str, Any]]:
    """(origin, document) pairs from a YAML file or every *.yaml/*.yml in a directory."""
    import yaml

    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise UsageFailure(f"{path}: no *.yaml or *.yml files in this directory")
    else:
        files = [path]
    documents: list[tuple[str, Any]] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageFailure(
                f"{file}: cannot read IAM file: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise UsageFailure(f"{file}: invalid YAML{at}: {problem}") from None
        documents += [(f"{file} (document {i})", doc) for i, doc in enumerate(docs, 1)]
    if not any(
        isinstance(d, Mapping) and d.get("kind") in IAM_KINDS + ("List",) for _, d in documents
    ):
        raise UsageFailure(f"{path}: no JwtIssuer, Policy or Role objects found")
    return documents


def default_documents(idp_issuer: str, namespaces: Sequence[str]) -> list[tuple[str, Any]]:
    """Without --iam: a Role letting every client and user of the sandbox IdP invoke and
    read every function served (Function:Invoke, Function:Read and Namespace:Read on
    `<namespace>:*` for each namespace)."""
    meta = {"namespace": "openfaas"}
    resources = [f"{ns}:*" for ns in namespaces]
    invoke = {"sid": "invoke-sandbox-functions", "action": ["Function:Invoke"],
              "effect": "Allow", "resource": resources}
    read = {"sid": "read-sandbox-functions", "action": ["Function:Read", "Namespace:Read"],
            "effect": "Allow", "resource": resources}
    policy = {
        "apiVersion": "iam.openfaas.com/v1",
        "kind": "Policy",
        "metadata": {"name": "sandbox-invoke", **meta},
        "spec": {"statement": [invoke, read]},
    }
    role = {
        "apiVersion": "iam.openfaas.com/v1",
        "kind": "Role",
        "metadata": {"name": "sandbox-invokers", **meta},
        "spec": {
            "policy": ["sandbox-invoke"],
            "condition": {"StringEqual": {"jwt:iss": [idp_issuer]}},
        },
    }
    return [("default IAM", policy), ("default IAM", role)]


def sandbox_issuer(idp_issuer: str, client_ids: Sequence[str]) -> JwtIssuer:
    """The sandbox IdP as a JwtIssuer: its clients' tokens, 5 minute function tokens."""
    return JwtIssuer("sandbox-idp", idp_issuer, tuple(client_ids), DEFAULT_TOKEN_EXPIRY)
