"""The sandbox's record of the requests it answered: for tests that count round trips.

One `RequestRecord` per request on either origin (`idp` or `gateway`), with the kind of token
the request presented: `none`, `function` (a gateway function token), `api` (an OpenFaaS API
token from the gateway), `idp` (a token from a trusted identity provider) or `invalid`.
Tokens themselves are never recorded or logged. Requests under `/_sandbox/` are not recorded.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TextIO

TOKEN_KINDS = ("none", "function", "api", "idp", "invalid")


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    origin: str  # "idp", "gateway" or "ci" (Sandbox(ci=...))
    method: str
    path: str  # without the query string
    status: int
    token: str  # one of TOKEN_KINDS
    started: float  # epoch seconds
    duration_ms: float
    connection: int = 0  # which connection to its origin carried it: 1, 2, ...

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def log_line(self) -> str:
        return (
            f"faasauth sandbox: {self.origin:<7} {self.method} {self.path} {self.status}"
            f" token={self.token} {self.duration_ms:.0f}ms"
        )


class RequestLog:
    """Thread-safe list of records, optionally echoing one line per record to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stream = stream

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            if self._stream is not None:
                try:
                    print(record.log_line(), file=self._stream, flush=True)
                except (OSError, ValueError):
                    pass  # a closed stderr must not break serving

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(
        self,
        path_prefix: str = "",
        *,
        origin: str | None = None,
        method: str | None = None,
        status: int | None = None,
        token: str | None = None,
        where: Callable[[RequestRecord], bool] | None = None,
    ) -> int:
        def keep(r: RequestRecord) -> bool:
            return (
                r.path.startswith(path_prefix)
                and (origin is None or r.origin == origin)
                and (method is None or r.method == method)
                and (status is None or r.status == status)
                and (token is None or r.token == token)
                and (where is None or where(r))
            )

        return sum(1 for r in self.snapshot() if keep(r))
