"""The in-process memory bus as a behaviour-suite backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from socketio_cloud import MemoryBus, MemoryEmitter, MemoryManager
from socketio_cloud.emitter import Emitter
from socketio_cloud.transports.memory import MemoryTransport


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.bus = MemoryBus()

    def make_manager(self, **cluster_options: Any) -> MemoryManager:
        return MemoryManager(bus=self.bus, **cluster_options)

    def make_transport(self) -> MemoryTransport:
        return MemoryTransport(self.bus)

    async def node_resources(self, uid: str) -> list[str]:
        """The bus keeps nothing for a node beyond its process."""
        return []

    def make_emitter(self) -> Emitter:
        return MemoryEmitter(self.bus)

    async def publish_malformed(self) -> None:
        for raw in (
            b"\xc1 not msgpack",
            msgpack.packb({"type": 3, "uid": "x", "nsp": "/", "data": {"packet": 5}}),
            msgpack.packb({"type": 99, "uid": "x", "nsp": "/"}),
            msgpack.packb([1, 2, 3]),
            b"",
        ):
            self.bus.send(raw)

    async def cleanup(self) -> None:
        return None


@pytest.fixture
def backend_memory() -> Iterator[MemoryBackend]:
    yield MemoryBackend()
