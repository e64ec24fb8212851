"""The Blob payload store against Azurite's Blob service (npm ``azurite``, started here), and
large messages through it between two Service Bus nodes on the double."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob.aio import ContainerClient

from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import (
    BroadcastOptions,
    ClusterMessage,
    Limits,
    MessageType,
    broadcast_data,
)
from socketio_cloud.transports.servicebus.blob import BlobPayloadStore
from tests.backends.servicebus import ServiceBusBackend
from tests.support.services import free_port, port_open, require_service, wait_until

from .conftest import StartNode

pytestmark = pytest.mark.servicebus

AZURITE = Path(__file__).parent / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def azurite_url() -> Iterator[str]:
    """Azurite's Blob service on a free port, in memory; its account URL."""
    require_service(AZURITE.exists(), "azurite is not installed (scripts/bootstrap)")
    port = free_port()
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                reason = process.stderr.read().decode() if process.stderr else ""
                require_service(False, f"azurite did not start: {reason[-300:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def container(azurite_url: str) -> AsyncIterator[ContainerClient]:
    client = ContainerClient(
        azurite_url,
        f"payloads-{secrets.token_hex(4)}",
        credential=AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY),
    )
    await client.create_container()
    try:
        yield client
    finally:
        await client.delete_container()
        await client.close()


async def test_a_payload_round_trips(container: ContainerClient) -> None:
    store = BlobPayloadStore(container)
    payload = secrets.token_bytes(300_000)
    pointer = await store.put("0123456789abcdef", payload)
    assert pointer.startswith(f"{container.container_name}/socketio-cloud/0123456789abcdef/")
    assert await store.get(pointer) == payload


@pytest.mark.parametrize(
    "make_pointer",
    [
        lambda c: "other-container/socketio-cloud/x",
        lambda c: f"{c}/elsewhere/x",
        lambda c: f"{c}/socketio-cloud/../elsewhere/x",
        lambda c: f"{c}/socketio-cloud/missing",
        lambda c: f"{c}/socketio-cloud/" + "x" * 2000,
    ],
)
async def test_pointers_outside_the_store_or_to_nothing_are_refused(
    container: ContainerClient, make_pointer: object
) -> None:
    store = BlobPayloadStore(container)
    with pytest.raises(DecodeError):
        await store.get(make_pointer(container.container_name))  # type: ignore[operator]


async def test_a_blob_over_the_receivers_limit_is_refused(container: ContainerClient) -> None:
    writer = BlobPayloadStore(container)
    reader = BlobPayloadStore(container, limits=Limits(max_message_size=1000))
    pointer = await writer.put("0123456789abcdef", b"x" * 1001)
    with pytest.raises(DecodeError, match="exceeds"):
        await reader.get(pointer)


async def test_from_account_builds_and_closes_its_client(azurite_url: str) -> None:
    name = f"payloads-{secrets.token_hex(4)}"
    store = BlobPayloadStore.from_account(
        azurite_url, name, credential=AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY)
    )
    await store.container.create_container()
    pointer = await store.put("0123456789abcdef", b"hello")
    assert await store.get(pointer) == b"hello"
    await store.container.delete_container()
    await store.close()


async def test_large_messages_travel_between_nodes_through_blob_storage(
    start_node: StartNode, sb_cluster: ServiceBusBackend, container: ContainerClient
) -> None:
    store = BlobPayloadStore(container)
    a, _ = await start_node(payload_store=store)
    _, inbox = await start_node(payload_store=store)
    big = ClusterMessage(
        MessageType.BROADCAST,
        a._uid,
        "/",
        broadcast_data(BroadcastOptions(), ["big", secrets.token_bytes(400_000)]),
    )
    await a.publish(big)
    await wait_until(lambda: inbox.from_uid(a._uid), timeout=20, message="the large message")
    assert inbox.from_uid(a._uid) == [big]
    blobs = [blob.name async for blob in container.list_blobs()]
    assert len(blobs) == 1 and blobs[0].startswith(f"socketio-cloud/{a._uid}/")
