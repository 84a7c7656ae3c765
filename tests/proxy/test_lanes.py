"""faasauth.lanes: a transport of its own for each call in flight, given back when its answer
is closed, so that the proxy's callers share no connection pool (and no pool lock)."""

from __future__ import annotations

import threading

import httpx
import pytest

from faasauth.lanes import Lanes


class Counted(httpx.BaseTransport):
    """A lane that answers at once, or holds its answer until `release` is set."""

    made: list[Counted] = []

    def __init__(self, release: threading.Event | None = None) -> None:
        self.release = release
        self.requests = 0
        self.closed = False
        Counted.made.append(self)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.url.path == "/fail":
            raise httpx.ConnectError("refused", request=request)
        if self.release is not None:
            self.release.wait(10)
        return httpx.Response(200, stream=httpx.ByteStream(b"answer"))

    def close(self) -> None:
        self.closed = True


def until_made(count: int) -> None:
    """Wait (2 s at most) until `count` lanes exist: the calls are all in flight."""
    for _ in range(200):
        if len(Counted.made) >= count:
            return
        threading.Event().wait(0.01)


@pytest.fixture(autouse=True)
def fresh() -> None:
    Counted.made = []


def test_calls_one_after_another_use_one_lane() -> None:
    with httpx.Client(transport=Lanes(Counted, keep=4)) as client:
        for _ in range(5):
            assert client.get("http://gw/function/f").content == b"answer"
    assert len(Counted.made) == 1 and Counted.made[0].requests == 5


def test_calls_in_flight_at_once_each_get_a_lane_of_their_own() -> None:
    release = threading.Event()
    lanes = Lanes(lambda: Counted(release), keep=8)
    client = httpx.Client(transport=lanes)
    done: list[bytes] = []
    threads = [threading.Thread(target=lambda: done.append(client.get("http://gw/f").content))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    until_made(6)
    assert len(Counted.made) == 6  # six calls waiting at once: six lanes, none shared
    release.set()
    for thread in threads:
        thread.join(10)
    assert done == [b"answer"] * 6
    client.get("http://gw/f")  # the calls gave their lanes back: one is taken again
    assert len(Counted.made) == 6
    client.close()
    assert all(lane.closed for lane in Counted.made)


def test_a_lane_comes_back_only_when_its_answer_is_closed() -> None:
    lanes = Lanes(Counted, keep=4)
    client = httpx.Client(transport=lanes)
    request = client.build_request("GET", "http://gw/f")
    streamed = client.send(request, stream=True)  # not read yet: its lane is still busy
    client.get("http://gw/f")
    assert len(Counted.made) == 2
    streamed.close()  # closed unread: given back too
    client.get("http://gw/f")
    client.get("http://gw/f")
    assert len(Counted.made) == 2


def test_a_failed_request_gives_its_lane_back() -> None:
    client = httpx.Client(transport=Lanes(Counted, keep=4))
    with pytest.raises(httpx.ConnectError):
        client.get("http://gw/fail")
    client.get("http://gw/f")
    assert len(Counted.made) == 1


def test_at_most_keep_idle_lanes_are_kept_the_rest_closed() -> None:
    release = threading.Event()
    client = httpx.Client(transport=Lanes(lambda: Counted(release), keep=2))
    threads = [threading.Thread(target=lambda: client.get("http://gw/f")) for _ in range(5)]
    for thread in threads:
        thread.start()
    until_made(5)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(Counted.made) == 5
    assert sum(lane.closed for lane in Counted.made) == 3  # two kept warm, three closed
