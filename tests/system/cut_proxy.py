"""A TCP proxy in front of a test server whose connections can be cut, as a school network drops or a
phone's screen sleeps: every connection through it is reset, and new ones are refused until it is
restored."""
from __future__ import annotations

import asyncio
import socket
import threading


class CutProxy:
    def __init__(self) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.target_port: int | None = None
        self._blocked = False
        self._pairs: set = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="cut-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main():
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self._ready.set()
            async with self._server:
                await self._server.serve_forever()
        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    async def _handle(self, reader, writer) -> None:
        if self._blocked or self.target_port is None:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)

    def _run(self, fn) -> None:
        done = threading.Event()

        def call():
            fn()
            done.set()
        self._loop.call_soon_threadsafe(call)
        done.wait(10)

    def cut(self) -> None:
        """Reset every connection through the proxy and refuse new ones."""
        def do():
            self._blocked = True
            for down, up in list(self._pairs):
                down.transport.abort()
                up.transport.abort()
        self._run(do)

    def restore(self) -> None:
        def do():
            self._blocked = False
        self._run(do)

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self._loop)])
        self._thread.join(10)
