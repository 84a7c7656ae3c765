"""The floor of any Python proxy: a relay that copies bytes and nothing else.

    python benchmarks/byte_relay.py TARGET_PORT     # prints the port it listens on

Listens on 127.0.0.1 (a free port) and joins each connection to a new connection to
127.0.0.1:TARGET_PORT, copying bytes both ways with asyncio, 1 MiB reads: no HTTP parsing,
no header added, no token, no pool. bench_proxy.py --floor runs the same load and upload
through it, so what `faasauth proxy` adds can be set against what merely passing the bytes
through one more Python process costs on this machine.
"""

from __future__ import annotations

import asyncio
import sys

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


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
