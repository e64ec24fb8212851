"""The public faces of the Redis Streams broker: the cluster manager and the emitter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis

from ...cluster import ClusterManager
from ...emitter import Emitter
from ...protocol import Limits
from .transport import RedisStreamsTransport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ...cluster import ClusterOptions

__all__ = ["RedisStreamsEmitter", "RedisStreamsManager"]


class RedisStreamsManager(ClusterManager):
    """A :class:`~socketio_cloud.cluster.ClusterManager` on Redis Streams, able to share a
    cluster with Node servers using ``@socket.io/redis-streams-adapter`` 0.3.x.

    >>> mgr = RedisStreamsManager(url="redis://localhost:6379/0")
    >>> sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    >>> await mgr.ready()

    The broker options are those of :class:`RedisStreamsTransport` (each documented there,
    with its default and Node equivalent); the others (``requests_timeout``, ``limits``, ...)
    are the cluster options of :class:`~socketio_cloud.cluster.ClusterManager`. There are no
    heartbeats on this broker: ``server_count()`` is the number of subscribers of the
    namespace's request channel, and requests wait for that many answers minus one.
    With ``connection_state_recovery=True`` (and ``max_disconnection_duration``, seconds),
    sessions are stored under ``session_key_prefix`` as Node stores them, so a client can
    drop from a Node or Python server and recover on either
    (:mod:`socketio_cloud.recovery`).
    """

    transport: RedisStreamsTransport

    def __init__(
        self,
        *,
        redis: Redis | None = None,
        url: str | None = None,
        stream_name: str = "socket.io",
        stream_count: int = 1,
        channel_prefix: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        block_time: float = 5.0,
        session_key_prefix: str = "sio:session:",
        **cluster: Unpack[ClusterOptions],
    ) -> None:
        transport = RedisStreamsTransport(
            redis=redis,
            url=url,
            stream_name=stream_name,
            stream_count=stream_count,
            channel_prefix=channel_prefix,
            max_len=max_len,
            read_count=read_count,
            block_time=block_time,
            session_key_prefix=session_key_prefix,
            limits=cluster.get("limits"),
        )
        super().__init__(transport, **cluster)


class RedisStreamsEmitter(Emitter):
    """An :class:`~socketio_cloud.emitter.Emitter` that adds entries to the cluster's streams,
    as ``@socket.io/redis-streams-emitter`` does; Node and Python servers receive them alike.

    >>> emitter = RedisStreamsEmitter(url="redis://localhost:6379/0")
    >>> await emitter.to("room1").emit("hello", "world")

    The options are those of :class:`RedisStreamsTransport` about publishing, with the same
    defaults. Unlike Node's emitter, which always writes to ``stream_name``, it honours
    ``stream_count`` so that its messages reach servers that use several streams.
    """

    transport: RedisStreamsTransport

    def __init__(
        self,
        *,
        redis: Redis | None = None,
        url: str | None = None,
        stream_name: str = "socket.io",
        stream_count: int = 1,
        channel_prefix: str = "socket.io",
        max_len: int = 10_000,
        limits: Limits | None = None,
        namespace: str = "/",
    ) -> None:
        transport = RedisStreamsTransport(
            redis=redis,
            url=url,
            stream_name=stream_name,
            stream_count=stream_count,
            channel_prefix=channel_prefix,
            max_len=max_len,
            limits=limits,
        )
        super().__init__(transport, namespace=namespace)
