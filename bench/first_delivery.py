"""Where the milliseconds of a first delivery go, stage by stage, on Redis Streams.

    python -m bench.first_delivery [--events 200] [--rate 20]

Two of our nodes in one process (so one clock, no network between the stages' stamps),
one loopback client on the receiving node (bench.loopback). For each event at ``--rate``:
``emit`` called -> XADD answered (the sender's publish) -> the receiving node's reader
hands the entry over (XREAD wake-up and decoding) -> the event is in the client's queue
(fan-out). Prints one JSON object with the p50 and p90 of each stage in milliseconds.
Both nodes share one event loop here, so each stage also waits for the other node's work
of the same turn: the stages are an upper bound of what a separate process would see.
Prints ``{"event": "ready"}`` then ``{"event": "result", "result": {...}}`` (``bench.run``'s
part ``first-delivery``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from typing import Any

import socketio

from bench.loopback import LoopbackClients
from socketio_cloud.transports.redis_streams import RedisStreamsManager


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
    }


async def publish_alone(url: str, key: str, count: int = 200) -> dict[str, Any]:
    """The sender's publish with nothing else on the loop: redis-py's XADD round trip, and
    our transport's publish of a broadcast (framing and queue included)."""
    from redis.asyncio import Redis

    from socketio_cloud.protocol import (
        BroadcastOptions,
        ClusterMessage,
        MessageType,
        broadcast_data,
    )
    from socketio_cloud.transports.redis_streams import RedisStreamsTransport

    client = Redis.from_url(url)
    transport = RedisStreamsTransport(url=url, stream_name=key, channel_prefix=key)
    await transport.open_publisher()
    data = broadcast_data(BroadcastOptions(), ["tick", {"seq": 0, "pad": "x" * 100}])
    message = ClusterMessage(MessageType.BROADCAST, "0" * 16, "/", data)
    raw: list[float] = []
    ours: list[float] = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            await client.xadd(key, {"uid": "x", "nsp": "/", "type": "3"}, maxlen=1000)
            raw.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await transport.publish(message)
            ours.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.002)
        await client.delete(key)
    finally:
        await transport.close()
        await client.aclose()
    return {"xadd_alone_ms": _quantiles(raw), "publish_alone_ms": _quantiles(ours)}


async def run(events: int, rate: float, url: str) -> dict[str, Any]:
    key = f"bench-first-{secrets.token_hex(3)}"
    alone = await publish_alone(url, f"{key}-alone")
    sender = RedisStreamsManager(url=url, stream_name=key, channel_prefix=key)
    receiver = RedisStreamsManager(url=url, stream_name=key, channel_prefix=key)
    sio_sender = socketio.AsyncServer(async_mode="asgi", client_manager=sender)
    sio_receiver = socketio.AsyncServer(async_mode="asgi", client_manager=receiver)
    await sender.ready()
    await receiver.ready()
    stamps: dict[int, dict[str, float]] = {}
    clock = time.perf_counter

    original_on_message = receiver._on_message

    async def on_message(message: Any, offset: str | None = None) -> None:
        try:
            seq = message.data["packet"]["data"][1]["seq"]
            stamps[seq]["received"] = clock()
        except (KeyError, TypeError, IndexError):
            pass
        await original_on_message(message, offset)

    receiver._on_message = on_message  # type: ignore[method-assign]
    receiver.transport._inbox._on_message = on_message  # type: ignore[union-attr]

    clients = LoopbackClients(sio_receiver)
    await clients.connect(1)
    socket = sio_receiver.eio.sockets[clients.eio_sids[0]]
    receiver_queue = socket.queue
    original_put = receiver_queue.put_nowait

    def put_nowait(pkt: Any) -> None:
        data = getattr(pkt, "data", None)
        if isinstance(data, str) and '"tick"' in data:
            seq = json.loads(data[data.index("[") :])[1]["seq"]
            stamps[seq]["delivered"] = clock()
            if sum("delivered" in s for s in stamps.values()) == events:
                all_delivered.set()
        original_put(pkt)

    receiver_queue.put_nowait = put_nowait  # type: ignore[method-assign]
    all_delivered = asyncio.Event()
    try:
        for seq in range(events):
            await asyncio.sleep(1 / rate)
            stamps[seq] = {"emit": clock()}
            await sio_sender.emit("tick", {"seq": seq, "pad": "x" * 100})
            stamps[seq]["published"] = clock()
        try:
            await asyncio.wait_for(all_delivered.wait(), 10)
        except asyncio.TimeoutError:
            pass  # report what arrived
    finally:
        await sender.close()
        await receiver.close()
    done = [s for s in stamps.values() if {"published", "received", "delivered"} <= s.keys()]
    ms = 1000.0
    return {
        **alone,
        "events": len(done),
        "rate": rate,
        "publish_ms": _quantiles([(s["published"] - s["emit"]) * ms for s in done]),
        "emit_to_received_ms": _quantiles([(s["received"] - s["emit"]) * ms for s in done]),
        "received_to_client_queue_ms": _quantiles(
            [(s["delivered"] - s["received"]) * ms for s in done]
        ),
        "emit_to_client_queue_ms": _quantiles([(s["delivered"] - s["emit"]) * ms for s in done]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    sys.stdout.write(json.dumps({"event": "ready"}) + "\n")
    sys.stdout.flush()
    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    try:
        main_run = run(args.events, args.rate, args.redis_url)
        result = uvloop.run(main_run) if uvloop is not None else asyncio.run(main_run)
    except Exception as exc:
        result = {"error": repr(exc)}
    sys.stdout.write(json.dumps({"event": "result", "result": result}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
