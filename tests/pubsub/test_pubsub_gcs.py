"""Large payloads through Cloud Storage, on gcp-storage-emulator (a GCS API stub from PyPI,
run in this process on 127.0.0.1): the real google-cloud-storage client and the real
:class:`GcsPayloadStore`, end to end between two nodes on the Pub/Sub emulator."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from socketio_cloud import protocol
from socketio_cloud.exceptions import DecodeError
from socketio_cloud.protocol import BroadcastOptions, ClusterMessage, Limits, MessageType
from socketio_cloud.transports.pubsub_payloads import GcsPayloadStore
from tests.pubsub.conftest import StartNode
from tests.support.services import free_port, require_service, wait_until

pytestmark = pytest.mark.pubsub

A, B = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
BUCKET = "sio-payloads"
BIG = Limits(max_message_size=16 * 1024 * 1024)


@pytest.fixture(scope="module")
def gcs_client() -> Iterator[Any]:
    """A storage client on an in-memory GCS stub with the bucket :data:`BUCKET`."""
    require_service(
        importlib.util.find_spec("gcp_storage_emulator") is not None,
        "gcp-storage-emulator is not installed",
    )
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        yield storage.Client(
            project="sio-test-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
        )
    finally:
        server.stop()


def broadcast(uid: str, *args: Any) -> ClusterMessage:
    data = protocol.broadcast_data(BroadcastOptions(), ["event", *args])
    return ClusterMessage(MessageType.BROADCAST, uid, "/", data)


async def test_a_large_message_travels_through_the_bucket(
    gcs_client: Any, start_node: StartNode
) -> None:
    store = GcsPayloadStore(BUCKET, prefix="sio/", client=gcs_client, limits=BIG)
    a, _ = await start_node(A, payload_store=store, limits=BIG)
    _b, inbox_b = await start_node(B, payload_store=store, limits=BIG)
    big = broadcast(A, b"\x01" * 11_000_000)

    await a.publish(big)

    await wait_until(lambda: len(inbox_b.messages) == 1, 30, "the large broadcast")
    assert inbox_b.messages == [big]
    names = [blob.name for blob in gcs_client.list_blobs(BUCKET, prefix=f"sio/{A}/")]
    assert len(names) == 1


async def test_pointers_outside_the_bucket_and_prefix_are_refused(gcs_client: Any) -> None:
    store = GcsPayloadStore(BUCKET, prefix="sio/", client=gcs_client)
    pointer = await store.put(A, b"payload")
    assert pointer.startswith(f"gs://{BUCKET}/sio/{A}/")
    assert await store.get(pointer) == b"payload"
    for foreign in (
        "gs://other-bucket/sio/x",
        f"gs://{BUCKET}/elsewhere/x",
        f"gs://{BUCKET}/sio/../secret",
        f"gs://{BUCKET}/sio/missing",
    ):
        with pytest.raises(DecodeError):
            await store.get(foreign)


async def test_objects_beyond_the_limits_are_refused(gcs_client: Any) -> None:
    small = GcsPayloadStore(BUCKET, prefix="sio/", client=gcs_client, limits=Limits(1000))
    pointer = await small.put(A, b"x" * 2000)
    with pytest.raises(DecodeError, match="exceeds"):
        await small.get(pointer)
