"""Fixtures of the behaviour suite: a cluster of real nodes on each backend."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.backends import BACKENDS
from tests.behaviour.harness import FAST_HEARTBEATS, Client, Node, connect_client, make_node
from tests.support.services import wait_until


class Cluster:
    """The nodes and clients of one test."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.nodes: list[Node] = []
        self.clients: list[Client] = []
        self.emitters: list[Any] = []

    async def add_node(self, **cluster_options: Any) -> Node:
        options = {**FAST_HEARTBEATS, **cluster_options}
        node = make_node(f"node{len(self.nodes)}", self.backend.make_manager(**options))
        await node.start()
        self.nodes.append(node)
        return node

    async def connect(self, node: Node, name: str, *namespaces: str, **kwargs: Any) -> Client:
        client = await connect_client(node, name, namespaces or ("/",), **kwargs)
        self.clients.append(client)
        return client

    def emitter(self) -> Any:
        emitter = self.backend.make_emitter()
        self.emitters.append(emitter)
        return emitter

    async def converge(self, namespace: str = "/", nodes: list[Node] | None = None) -> None:
        """Wait until every node counts every other one."""
        nodes = nodes or self.nodes
        # Brokers that count subscribers (Redis Streams: PUBSUB NUMSUB) count a node for a
        # namespace once it serves it; server_count() makes every node serve it first.
        for node in nodes:
            await node.manager.server_count(namespace)
        for node in nodes:

            async def counted(node: Node = node) -> bool:
                return await node.manager.server_count(namespace) == len(nodes)

            await wait_until(counted, 15, f"{node.name} to count {len(nodes)} servers")

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        for emitter in self.emitters:
            with contextlib.suppress(Exception):
                await emitter.close()
        for node in self.nodes:
            await node.stop()
        await self.backend.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"backend_{request.param}")


@pytest.fixture
async def cluster(backend: Any) -> AsyncIterator[Cluster]:
    """Three started nodes that know each other."""
    cluster = Cluster(backend)
    try:
        for _ in range(3):
            await cluster.add_node()
        await cluster.converge()
        yield cluster
    finally:
        await cluster.close()


@pytest.fixture
async def empty_cluster(backend: Any) -> AsyncIterator[Cluster]:
    """A cluster whose nodes the test starts itself (custom options)."""
    cluster = Cluster(backend)
    try:
        yield cluster
    finally:
        await cluster.close()
