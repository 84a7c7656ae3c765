"""faasauth.gateway.body: request bodies that can be sent again, byte for byte."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

from faasauth.gateway.body import RequestBody

# -- the request body ---------------------------------------------------------------------


def _drain(content: bytes | Iterator[bytes]) -> bytes:
    return content if isinstance(content, bytes) else b"".join(content)


def test_no_stdin_is_an_empty_body() -> None:
    body = RequestBody(None)
    payload = body.first(keep_copy=True)
    assert (payload.content, payload.length) == (b"", 0)


def test_small_input_is_read_whole_with_its_length() -> None:
    body = RequestBody(io.BytesIO(b"abc"))
    assert body.length == 3
    payload = body.first(keep_copy=False)
    assert payload.content == b"abc" and body.again().content == b"abc"


def test_regular_file_is_replayed_by_seeking(tmp_path: Path) -> None:
    path = tmp_path / "in.bin"
    path.write_bytes(b"skip" + bytes(range(256)) * 5000)
    with open(path, "rb") as handle:
        handle.read(4)  # a file already partly read: the body is what is left
        body = RequestBody(handle, chunk_size=4096, memory_limit=1000)
        first = body.first(keep_copy=True)
        assert first.length == 256 * 5000
        assert _drain(first.content) == bytes(range(256)) * 5000
        again = body.again()
        assert _drain(again.content) == bytes(range(256)) * 5000
        assert body._spool is None  # no copy was made


class _Pipe:
    """A real pipe fed by a thread, so reads come in pipe-sized pieces."""

    def __init__(self, data: bytes) -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb")

        def feed() -> None:
            with os.fdopen(write_fd, "wb") as writer:
                writer.write(data)

        self.thread = threading.Thread(target=feed, daemon=True)
        self.thread.start()


def test_pipe_tee_and_replay_after_a_partial_send(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    pipe = _Pipe(data)
    body = RequestBody(pipe.reader, chunk_size=8192, memory_limit=50_000, tempdir=str(tmp_path))
    first = body.first(keep_copy=True)
    assert first.length is None  # chunked
    chunks = iter(first.content)
    sent = next(chunks) + next(chunks)  # the server hung up after a little
    assert data.startswith(sent)
    again = body.again()
    assert again.length == len(data)
    assert _drain(again.content) == data
    assert _drain(body.again().content) == data  # as often as needed
    assert os.listdir(tmp_path) == []  # the spool file is unlinked at once
    body.close()


def test_pipe_without_copy_streams_once() -> None:
    data = os.urandom(200_000)
    body = RequestBody(_Pipe(data).reader, chunk_size=8192, memory_limit=50_000)
    assert _drain(body.first(keep_copy=False).content) == data
    with pytest.raises(RuntimeError):
        body.again()


def test_load_observes_every_byte_and_keeps_them() -> None:
    data = os.urandom(200_000)
    body = RequestBody(_Pipe(data).reader, chunk_size=8192, memory_limit=50_000)
    digest = hashlib.sha256()
    assert body.load(digest.update) == len(data)
    assert digest.digest() == hashlib.sha256(data).digest()
    first = body.first(keep_copy=False)
    assert first.length == len(data) and _drain(first.content) == data
    assert _drain(body.again().content) == data


def test_spool_is_0600_while_it_exists(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    body = RequestBody(_Pipe(data).reader, chunk_size=8192, memory_limit=10_000,
                       tempdir=str(tmp_path))
    _drain(body.first(keep_copy=True).content)
    spool = body._spool
    assert spool is not None and spool._rolled  # type: ignore[attr-defined]
    assert os.fstat(spool.fileno()).st_mode & 0o777 == 0o600
    body.close()


