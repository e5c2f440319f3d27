"""A StreamServer on its own event-loop thread, for tests, measurements and in-process tools.

with BackgroundServer(engine, ServerSettings(port=0)) as server:
    client = StreamClient(server.target)
"""

from __future__ import annotations

import asyncio
import threading

from serve.server import StreamServer
from serve.settings import ServerSettings
from stream import Engine

_START_TIMEOUT_SECONDS = 600.0  # warm-up compiles the whole model, minutes on a busy CPU


class BackgroundServer:
    def __init__(self, engine: Engine, settings: ServerSettings, warm: bool = True):
        self._engine = engine
        self._settings = settings
        self._warm = warm
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stream-server", daemon=True)
        self.server: StreamServer | None = None

    @property
    def target(self) -> str:
        """host:port to connect to."""
        return f"{self._settings.host}:{self.server.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_SECONDS):
            raise TimeoutError(f"server did not start within {_START_TIMEOUT_SECONDS:.0f} s")
        if self._failure is not None:
            self._thread.join()
            raise self._failure
        return self

    def stop(self, grace_seconds: float = 0.0) -> None:
        if self._thread.is_alive():
            stopping = asyncio.run_coroutine_threadsafe(self.server.stop(grace_seconds), self._loop)
            stopping.result(timeout=grace_seconds + 30.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self.server = StreamServer(self._engine, self._settings)
        await self.server.start(self._warm)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as error:  # raised again by start() in the caller's thread
            self._failure = error
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()
