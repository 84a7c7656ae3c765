"""The floor of any Python proxy: a relay that copies bytes and nothing else.

    python benchmarks/byte_relay.py TARGET_PORT [--splice]   # prints the port it listens on

Listens on 127.0.0.1 (a free port) and joins each connection to a new connection to
127.0.0.1:TARGET_PORT, copying bytes both ways: no HTTP parsing, no header added, no token,
no pool. By default with asyncio and 1 MiB reads; with --splice, two threads per connection
moving the bytes with splice(2) through a pipe, never into Python (Linux). bench_proxy.py
--floor runs the same load and upload through it, so what `faasauth proxy` adds can be set
against what merely passing the bytes through one more Python process costs here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading

CHUNK = 1 << 20


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def main(target_port: int) -> None:
    async def joined(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(joined, "127.0.0.1", 0, limit=CHUNK)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def spliced(source: socket.socket, sink: socket.socket) -> None:
    read_end, write_end = os.pipe()
    try:
        while True:
            moved = os.splice(source.fileno(), write_end, CHUNK)
            if not moved:
                break
            while moved:
                moved -= os.splice(read_end, sink.fileno(), moved)
    except OSError:
        pass
    finally:
        os.close(read_end)
        os.close(write_end)
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main_splice(target_port: int) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        caller, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            caller.close()
            continue
        for source, sink in ((caller, upstream), (upstream, caller)):
            threading.Thread(target=spliced, args=(source, sink), daemon=True).start()


if __name__ == "__main__":
    if "--splice" in sys.argv[2:]:
        main_splice(int(sys.argv[1]))
    else:
        asyncio.run(main(int(sys.argv[1])))
