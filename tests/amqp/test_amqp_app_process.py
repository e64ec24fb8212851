"""``python -m app`` on RabbitMQ: two nodes find each other; a node's queue lives as long
as the node."""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

import pytest

from tests.amqp.rabbitmq_server import RabbitMQServer
from tests.app.nodes import AppProcess

pytestmark = [pytest.mark.amqp, pytest.mark.slow]

STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)


def test_two_app_nodes_form_a_cluster_on_rabbitmq(
    amqp_broker: RabbitMQServer, tmp_path: Path
) -> None:
    name = f"app-{secrets.token_hex(4)}"
    env = {
        "SIO_BACKEND": "amqp",
        "SIO_AMQP_URL": amqp_broker.url,
        "SIO_AMQP_EXCHANGE": name,
        "SIO_QUEUE_PREFIX": name,
        "SIO_HEARTBEAT_INTERVAL": "1",
        "SIO_HEARTBEAT_TIMEOUT": "3",
        "SIO_LOG_LEVEL": "info",
    }
    nodes = [AppProcess(f"node-{n}", env, tmp_path) for n in "ab"]
    try:
        for node in nodes:
            node.wait_healthy(servers=2)
        uids = sorted((node.health() or {})["uid"] for node in nodes)
        queues = sorted(q for q in amqp_broker.queue_stats() if q.startswith(f"{name}#"))
        assert queues == [f"{name}#{uid}" for uid in uids]
    finally:
        statuses = [node.stop() for node in nodes]
    for node, status in zip(nodes, statuses, strict=True):
        assert status in STOPPED_BY_SIGTERM, node.log()
    assert [q for q in amqp_broker.queue_stats() if q.startswith(f"{name}#")] == []
