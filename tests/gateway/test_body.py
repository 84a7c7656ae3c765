"""faasauth.gateway.body: request bodies that can be sent again, byte for byte."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

from faasauth.errors import UsageFailure
from faasauth.gateway.body import RequestBody
from faasauth.gateway.spool import Spool

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
    assert spool is not None and spool.size == len(data)
    assert os.fstat(spool.fileno).st_mode & 0o777 == 0o600
    body.close()


def test_pipe_is_widened_to_a_chunk() -> None:
    data = os.urandom(2_000_000)
    pipe = _Pipe(data)
    body = RequestBody(pipe.reader, chunk_size=1 << 20, memory_limit=50_000)
    assert body.length is None  # inspected: more than the memory limit
    F_GETPIPE_SZ = 1032
    import fcntl

    assert fcntl.fcntl(pipe.reader.fileno(), F_GETPIPE_SZ) >= 1 << 20
    assert _drain(body.first(keep_copy=False).content) == data


@pytest.mark.parametrize("sizes", [[1], [4095, 1, 4097], [3 << 20, 5, 1 << 20], [1 << 22] * 3])
def test_spool_gives_back_exactly_what_it_was_given(tmp_path: Path, sizes: list[int]) -> None:
    pieces = [os.urandom(n) for n in sizes]
    spool = Spool(str(tmp_path))
    try:
        for piece in pieces:
            spool.write(piece)
        spool.finish()
        assert b"".join(spool.chunks(65536)) == b"".join(pieces)
        spool.write(b"tail")  # after a finish (padding on disk): appended, not after it
        spool.finish()
        assert b"".join(spool.chunks(1 << 20)) == b"".join(pieces) + b"tail"
        assert spool.size == sum(sizes) + 4
    finally:
        spool.close()
    assert os.listdir(tmp_path) == []


def test_spool_bypasses_the_page_cache_where_it_can(tmp_path: Path) -> None:
    import fcntl

    spool = Spool(str(tmp_path))
    try:
        flags = fcntl.fcntl(spool.fileno, fcntl.F_GETFL)
        assert spool.direct == bool(flags & os.O_DIRECT)
        spool.write(b"x" * 10)
        spool.finish()
        assert not fcntl.fcntl(spool.fileno, fcntl.F_GETFL) & os.O_DIRECT  # read back as usual
    finally:
        spool.close()


def test_spool_holds_back_the_reader_when_the_disk_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded: `write` waits while `backlog` bytes are not yet written."""
    gate = threading.Event()
    spool = Spool(str(tmp_path), backlog=3 * 1024)
    real_write = spool._direct.write if spool._direct is not None else None
    written: list[int] = []

    def slow_write(fd: int, data: memoryview, offset: int) -> int:  # plain path
        gate.wait()
        written.append(len(data))
        return os.pwrite(fd, data, offset)

    def slow_direct(data: bytes) -> None:
        gate.wait()
        written.append(len(data))
        assert real_write is not None
        real_write(data)

    if spool._direct is not None:
        spool._direct.write = slow_direct  # type: ignore[method-assign]
    else:
        monkeypatch.setattr(os, "pwrite", slow_write)
    blocked = threading.Event()

    def produce() -> None:
        for _ in range(10):
            spool.write(b"y" * 1024)
        blocked.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert not blocked.wait(0.3)  # stuck: 3 KiB queued, the writer holds one
    assert spool._pending_bytes <= 3 * 1024
    gate.set()
    assert blocked.wait(10)
    spool.finish()
    assert sum(written) == 10 * 1024
    assert b"".join(spool.chunks(4096)) == b"y" * 10 * 1024
    spool.close()


def test_spool_read_back_stopped_early_leaves_no_thread(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), backlog=64 * 1024)
    data = os.urandom(3 << 20)
    spool.write(data)
    spool.finish()
    before = threading.active_count()
    pieces = spool.chunks(4096)
    assert next(pieces) == data[:4096]  # the reader runs ahead, then waits on a full queue
    pieces.close()  # the sender stopped (the server hung up)
    assert threading.active_count() <= before
    assert b"".join(spool.chunks(1 << 20)) == data  # and the copy is still whole
    spool.close()


def test_spool_failure_is_one_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageFailure, match="cannot keep a copy of the request body"):
        Spool(str(tmp_path / "missing"))
