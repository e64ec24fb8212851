"""The AWS facts module: the cost model's figures, and a module the cleanup and deploy
programs can import without the transport."""

from __future__ import annotations

import subprocess
import sys

import pytest

from socketio_cloud.brokers import aws as facts
from socketio_cloud.transports.aws import AwsSqsTransport


@pytest.mark.parametrize(
    ("nodes", "ours", "node"), [(2, 1584, 3600), (4, 2400, 6480), (10, 2832, 15120)]
)
def test_idle_calls_per_node_hour_ours_and_nodes(nodes: int, ours: int, node: int) -> None:
    assert facts.our_costs(nodes).per_idle_node_hour == ours
    assert facts.node_design_costs(nodes).per_idle_node_hour == node


def test_calls_per_broadcast_under_light_traffic() -> None:
    # Node: every queue receives and deletes every message, the sender's own included
    assert facts.node_design_costs(3).per_broadcast == 7
    # ours: the other nodes' receives, deletes in batches of 10
    assert facts.our_costs(3).per_broadcast == pytest.approx(3.2)


def test_without_batching_or_coalescing_every_receive_is_deleted() -> None:
    costs = facts.our_costs(5, delete_delay=0, idle_coalesce=0)
    assert costs.idle_receive == costs.idle_delete == 720 * 4


def test_the_cost_model_defaults_are_the_transports() -> None:
    transport = AwsSqsTransport(topic_arn="arn:aws:sns:us-east-1:123456789012:t")
    assert (
        transport.wait_time,
        transport.delete_delay,
        transport.idle_coalesce,
        transport.liveness_interval,
    ) == (
        facts.DEFAULT_WAIT_TIME,
        facts.DEFAULT_DELETE_DELAY,
        facts.DEFAULT_IDLE_COALESCE,
        facts.DEFAULT_LIVENESS_INTERVAL,
    )


def test_the_cleanup_imports_nothing_of_the_transport() -> None:
    script = (
        "import sys\n"
        "import socketio_cloud.cleanup.aws\n"
        "print(sorted(m for m in sys.modules if m.startswith('socketio_cloud')))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert output.strip() == str(
        [
            "socketio_cloud",
            "socketio_cloud.brokers",
            "socketio_cloud.brokers.aws",
            "socketio_cloud.cleanup",
            "socketio_cloud.cleanup.aws",
        ]
    )
