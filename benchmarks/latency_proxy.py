"""A loopback TCP proxy that puts a round-trip time between a client and a server.

Each direction is a delay line of RTT/2: what is read on one side is written on the other
RTT/2 later, in order. A new connection is opened to the server one RTT after the client's
arrives, and nothing the client sent goes on before that: the TCP handshake a real distance
would cost. So an HTTPS request on a new connection costs 3 RTT (TCP, TLS 1.3, the request)
and one more request on it 1 RTT, as over a real link of that length.

    with LatencyProxy(("127.0.0.1", 8443), rtt_ms=50) as proxy:
        url = f"https://127.0.0.1:{proxy.port}"
"""

from __future__ import annotations

import collections
import socket
import threading
import time


class _DelayLine:
    """src -> dst, every piece delayed by `delay` seconds; EOF is passed on as a shutdown."""

    def __init__(self, src: socket.socket, dst: socket.socket, delay: float,
                 not_before: float) -> None:
        self.src, self.dst, self.delay = src, dst, delay
        self.not_before = not_before
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.changed = threading.Condition()
        self.threads = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._write, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.src.recv(256 * 1024)
            except OSError:
                data = b""
            due = max(time.monotonic() + self.delay, self.not_before)
            with self.changed:
                self.queue.append((due, data or None))
                self.changed.notify()
            if not data:
                return

    def _write(self) -> None:
        while True:
            with self.changed:
                while not self.queue:
                    self.changed.wait()
                due, data = self.queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if data is None:
                    self.dst.shutdown(socket.SHUT_WR)
                    return
                self.dst.sendall(data)
            except OSError:
                return

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


class LatencyProxy:
    def __init__(self, upstream: tuple[str, int], rtt_ms: float) -> None:
        self.upstream = upstream
        self.rtt = rtt_ms / 1000
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if self._stopped:
                client.close()
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        arrived = time.monotonic()
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        half = self.rtt / 2
        # The client's first bytes reach the server after the handshake (1 RTT) plus their
        # own half trip; the server cannot answer before it has them.
        up = _DelayLine(client, server, half, not_before=arrived + self.rtt + half)
        down = _DelayLine(server, client, half, not_before=0.0)
        up.join()
        down.join()
        client.close()
        server.close()
