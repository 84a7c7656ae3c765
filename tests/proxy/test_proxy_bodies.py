"""What the proxy keeps of a caller's body for a second request (faasauth/proxy/bodies.py):
all of it for a probe, at most MEMORY_COPY for a cached token; a large body with a cached
token goes through with no copy, and its rare refusal is a 503 that says to send again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import httpx
import pytest

from faasauth.proxy.bodies import MEMORY_COPY, BodyNotKept, ContentLengthBody
from hostile.server import HostileServer, Request

from .conftest import Running

CHALLENGE = {"WWW-Authenticate": "Bearer realm=IAM function invoke",
             "X-OpenFaaS-Internal": "faas-middleware"}
TOKENS = ["eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmaXJzdCJ9." + "a" * 40,
          "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNvbmQifQ." + "b" * 40]
LARGE = bytes(range(256)) * (3 * 4096)  # 3 MiB: more than the proxy keeps for a cached token
SMALL = bytes(range(256)) * 2048  # 512 KiB


class Gateway:
    """A gateway whose /function/sink answers the size and digest of what it got, and
    refuses the first token it issued once `refuse_first` is set."""

    def __init__(self, hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OPENFAAS_URL", hostile.url)
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", TOKENS[0].replace("first", "subjt"))
        self.hostile, self.issued, self.refuse_first = hostile, 0, False
        hostile.route("/oauth/token")(self.token)
        hostile.route("/function/sink")(self.sink)

    def token(self, request: Request) -> None:
        token = TOKENS[min(self.issued, 1)]
        self.issued += 1
        request.json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})

    def sink(self, request: Request) -> None:
        sent = request.headers.get("Authorization", "")
        if not sent or self.refuse_first and sent == f"Bearer {TOKENS[0]}":
            request.send(401, b"invalid JWT\n", "text/plain", CHALLENGE)
            return
        request.json(200, {"bytes": len(request.body),
                           "sha256": hashlib.sha256(request.body).hexdigest()})

    def sink_calls(self) -> list[tuple[str, int]]:
        return [(r.headers.get("Authorization", "")[-1:] or "-", len(r.body))
                for r in self.hostile.seen if r.path == "/function/sink"]


def _post(proxy: Running, body: bytes) -> httpx.Response:
    return httpx.post(f"{proxy.url}/function/sink", content=body, timeout=30)


def _got(answer: httpx.Response, body: bytes) -> None:
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.text) == {"bytes": len(body),
                                       "sha256": hashlib.sha256(body).hexdigest()}


def test_a_probe_keeps_all_of_a_large_body_and_sends_it_again(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    gateway = Gateway(hostile, monkeypatch)
    proxy = start_proxy()
    _got(_post(proxy, LARGE), LARGE)
    assert gateway.sink_calls() == [("-", len(LARGE)), ("a", len(LARGE))]


def test_a_refused_cached_token_replays_a_small_body(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    gateway = Gateway(hostile, monkeypatch)
    proxy = start_proxy()
    _got(_post(proxy, b"x"), b"x")  # remembered, and its token cached
    gateway.refuse_first = True
    _got(_post(proxy, SMALL), SMALL)
    assert gateway.sink_calls()[2:] == [("a", len(SMALL)), ("b", len(SMALL))]


def test_a_large_body_with_a_cached_token_is_not_copied_and_a_refusal_says_send_again(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running],
    tmp_path: Path,
) -> None:
    gateway = Gateway(hostile, monkeypatch)
    # No temp dir: a spooled copy would fail the call, so a call that succeeds made none.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-dir"))
    proxy = start_proxy()
    _got(_post(proxy, b"x"), b"x")
    _got(_post(proxy, LARGE), LARGE)
    gateway.refuse_first = True
    refused = _post(proxy, LARGE)
    assert refused.status_code == 503
    assert "a new token is ready: send the call again" in refused.text
    assert TOKENS[0] not in refused.text and TOKENS[1] not in refused.text
    _got(_post(proxy, LARGE), LARGE)  # the new token was fetched for it
    assert gateway.sink_calls()[2:] == [("a", len(LARGE)), ("a", len(LARGE)),
                                        ("b", len(LARGE))]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read1(self, size: int) -> bytes:
        piece, self.data = self.data[:size], self.data[size:]
        return piece


@pytest.mark.parametrize("likely", [True, False])
@pytest.mark.parametrize("read_first", [0, 1, 2])
def test_again_is_the_same_bytes_wherever_the_first_send_stopped(
    likely: bool, read_first: int
) -> None:
    """A probe's copy (3 MiB: memory, then the spool) or a cached token's (512 KiB, in
    memory), the first send stopped after 0, 1 or 2 chunks: again() is the whole body."""
    import itertools

    body = (bytes(range(256)) * 4096 * 3) if likely else SMALL
    stream = ContentLengthBody(_Reader(body), len(body))
    stream.keep_copy(likely=likely)
    sent = b"".join(itertools.islice(iter(stream), read_first))
    assert body.startswith(sent) and len(sent) == min(len(body), read_first * 1024 * 1024)
    again, _ = stream.again()
    assert b"".join(again) == body


def test_a_cached_tokens_copy_stops_at_the_limit() -> None:
    body = b"z" * (MEMORY_COPY + 1)
    stream = ContentLengthBody(_Reader(body), len(body))
    stream.keep_copy(likely=False)
    assert b"".join(stream) == body
    with pytest.raises(BodyNotKept, match="send the call again"):
        stream.again()
