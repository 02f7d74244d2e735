"""A stand-in model server with a known capacity, for the load generator's tests and bench.

`python tests/standin_server.py --service-ms 2` listens on a free port (printed as the first line of
stdout) and answers `POST /predict` as one worker with a deterministic service time: each request
finishes `service_ms` after the previous one finished (or after it arrived, when the worker was
idle). The finish times are computed, not slept one after another, so timer slack only delays an
answer and never changes the capacity, which is exactly 1000 / service_ms requests a second.
`GET /health` answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service-ms", type=float, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    service_s = args.service_ms / 1e3
    free_at = [0.0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                if lines[0].startswith("POST"):
                    now = loop.time()
                    free_at[0] = max(now, free_at[0]) + service_s
                    await asyncio.sleep(free_at[0] - now)
                    body = b'{"predictions":[0]}'
                else:
                    body = b'{"status":"ok"}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", args.port, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
