"""A TCP relay on loopback that can lose what Redis answers: the network faults of the
fault tests, made on purpose.

    relay = Relay("127.0.0.1", redis.port)
    await relay.start()                    # clients connect to relay.port
    relay.drop_replies_after(b"EVAL", 1)   # the next reply to a request holding b"EVAL"
                                           # is swallowed, and that connection is cut
    relay.cut_all()                        # break every connection now
    await relay.stop()

A "dropped reply" models the worst case of a broken connection: the request reached
Redis and ran, but its answer never came back. The relay watches client -> Redis bytes for
a marker and, when the armed count is not yet used up, discards Redis' bytes on that
connection from then on and closes it shortly after, so the client sees a connection
error (or its read timeout) with the command already executed.
"""

from __future__ import annotations

import asyncio


class Relay:
    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._marker: bytes | None = None
        self._armed = 0
        self.dropped = 0  # replies swallowed so far

    async def start(self) -> "Relay":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def drop_replies_after(self, marker: bytes, times: int = 1) -> None:
        """Swallow the reply to the next ``times`` requests containing ``marker``."""
        self._marker, self._armed = marker, times

    def cut_all(self) -> None:
        for client, upstream in list(self._conns):
            client.transport.abort()
            upstream.transport.abort()
        self._conns.clear()

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._relay(c_reader, c_writer)
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)

    async def _relay(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter):
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.target)
        except OSError:
            c_writer.transport.abort()
            return
        pair = (c_writer, u_writer)
        self._conns.add(pair)
        state = {"blackhole": False}

        async def up():  # client -> Redis, watching for the marker
            while data := await c_reader.read(65536):
                if self._armed and self._marker and self._marker in data:
                    self._armed -= 1
                    self.dropped += 1
                    state["blackhole"] = True
                u_writer.write(data)
                await u_writer.drain()
                if state["blackhole"]:
                    # Let Redis run it, then cut the client off without its answer.
                    await asyncio.sleep(0.05)
                    c_writer.transport.abort()
                    return

        async def down():  # Redis -> client, unless this connection is blackholed
            while data := await u_reader.read(65536):
                if state["blackhole"]:
                    continue
                c_writer.write(data)
                await c_writer.drain()

        try:
            await asyncio.gather(up(), down(), return_exceptions=True)
        finally:
            self._conns.discard(pair)
            c_writer.transport.abort()
            u_writer.transport.abort()
