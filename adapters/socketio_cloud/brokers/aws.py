"""Facts about the AWS broker (one SNS topic per cluster, one SQS queue per node).

Read by the transport (:mod:`socketio_cloud.transports.aws`), the cleanup
(:mod:`socketio_cloud.cleanup.aws`), the command line, the app, the deploy program (``cdk/``)
and the benchmarks: resource names and their pattern, queue tags, defaults, AWS error codes,
the IAM actions each role needs, and the cost model of API calls.

Imports only the standard library (botocore lazily, in :func:`error_code`), so that the
cleanup function runs in a Lambda function that has boto3 and nothing else.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "AUTH_ERROR_CODES",
    "CLEANUP_ACTIONS",
    "DEFAULT_DELETE_DELAY",
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_IDLE_COALESCE",
    "DEFAULT_LIVENESS_INTERVAL",
    "DEFAULT_QUEUE_PREFIX",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_TOPIC_NAME",
    "DEFAULT_WAIT_TIME",
    "EMITTER_ACTIONS",
    "MISSING_QUEUE_CODES",
    "NODE_ACTIONS",
    "NODE_HEARTBEAT_INTERVAL",
    "NODE_UID_LENGTH",
    "NODE_UID_PATTERN",
    "NODE_WAIT_TIME",
    "NOT_FOUND_CODES",
    "PAYLOAD_ACTIONS",
    "PAYLOAD_LIFECYCLE_ACTIONS",
    "QUEUE_PREFIX_PATTERN",
    "SNS_MAX_MESSAGE_SIZE",
    "TAG_ALIVE",
    "TAG_NODE",
    "TAG_SUBSCRIPTION",
    "TAG_TOPIC",
    "TOPIC_CREATION_ACTIONS",
    "TRANSIENT_ERROR_CODES",
    "CallCosts",
    "TopicArn",
    "alive_mark",
    "check_topic_arn",
    "error_code",
    "is_node_queue_name",
    "node_design_costs",
    "node_queue_name",
    "node_queue_wildcard",
    "our_costs",
    "parse_topic_arn",
    "resolve_region",
    "topic_region",
]

# ---------------------------------------------------------------------------- names and tags

#: Topic created (or found: CreateTopic is idempotent) without a topic ARN (Node ``topicName``).
DEFAULT_TOPIC_NAME = "socket-io"
#: A node's queue is ``<queue_prefix>-<uid>`` (Node ``queuePrefix``).
DEFAULT_QUEUE_PREFIX = "socket-io"
#: What a queue prefix may be: it is part of SQS queue names (80 characters at most).
QUEUE_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
#: Node uids as the cluster core makes them (8 random bytes, hex).
NODE_UID_LENGTH = 16
NODE_UID_PATTERN = f"[0-9a-f]{{{NODE_UID_LENGTH}}}"

#: Queue tag: the uid of the node that owns the queue.
TAG_NODE = "socketio-cloud:node"
#: Queue tag: the ARN of the cluster's SNS topic.
TAG_TOPIC = "socketio-cloud:topic"
#: Queue tag: the ARN of the SNS subscription that feeds the queue.
TAG_SUBSCRIPTION = "socketio-cloud:subscription"
#: Queue tag: Unix time in whole seconds (decimal text) of the node's last liveness refresh.
TAG_ALIVE = "socketio-cloud:alive"

#: SNS's limit for one message: body, attribute names, types and values together.
SNS_MAX_MESSAGE_SIZE = 262_144

# ---------------------------------------------------------------------------- defaults

#: Seconds between two refreshes of a node's :data:`TAG_ALIVE` mark.
DEFAULT_LIVENESS_INTERVAL = 300.0
#: A queue whose alive mark is older than this many seconds belongs to a dead node.
DEFAULT_STALE_AFTER = 900.0
#: A queue without an alive mark is left alone for this many seconds after its creation.
DEFAULT_GRACE_PERIOD = 900.0
#: Our long poll, in seconds (SQS's maximum).
DEFAULT_WAIT_TIME = 20
#: Received messages are deleted in batches of 10, or once the oldest waited this long.
DEFAULT_DELETE_DELAY = 30.0
#: An idle queue waits this long after a receive of heartbeats only (see the transport).
DEFAULT_IDLE_COALESCE = 0.25
#: Heartbeat interval of the cluster core and of Node's adapter (``heartbeatInterval``).
DEFAULT_HEARTBEAT_INTERVAL = 5.0
#: Node's SQS adapter long-polls 5 s and heartbeats every 5 s.
NODE_WAIT_TIME = 5
NODE_HEARTBEAT_INTERVAL = 5.0


def node_queue_name(queue_prefix: str, uid: str) -> str:
    """The name of the queue of node ``uid``."""
    return f"{queue_prefix}-{uid}"


def is_node_queue_name(name: str, queue_prefix: str) -> bool:
    """Whether ``name`` is a node queue of the cluster using ``queue_prefix``.

    Stricter than SQS's ``QueueNamePrefix`` match, which would also return the queues of
    prefixes such as ``<queue_prefix>x`` or ``<queue_prefix>-eu``.
    """
    return re.fullmatch(f"{re.escape(queue_prefix)}-{NODE_UID_PATTERN}", name) is not None


_TOPIC_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):"
    r"(?P<account>\d{12}):(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)$"
)


@dataclass(frozen=True)
class TopicArn:
    """The parts of an SNS topic ARN."""

    partition: str
    region: str
    account: str
    name: str


def parse_topic_arn(arn: str) -> TopicArn | None:
    """The parts of ``arn``, or None when it is not an SNS topic ARN."""
    match = _TOPIC_ARN.match(arn)
    if match is None:
        return None
    return TopicArn(**match.groupdict())


def topic_region(arn: str) -> str | None:
    """The region an SNS topic ARN names (None when ``arn`` is not one)."""
    parsed = parse_topic_arn(arn)
    return parsed.region if parsed else None


def check_topic_arn(arn: str) -> TopicArn:
    """The parts of ``arn``; :class:`ValueError` saying what is expected when it is not an
    SNS topic ARN."""
    parsed = parse_topic_arn(arn)
    if parsed is None:
        raise ValueError(
            f"topic_arn: not an SNS topic ARN: {arn!r} "
            "(expected arn:aws:sns:<region>:<12-digit account>:<topic name>)"
        )
    return parsed


def resolve_region(
    topic_arn: str | None = None,
    region_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The region for the AWS clients of a cluster, None to leave it to boto3's configuration.

    In order: the region the topic ARN names (an explicit ``region_name`` must agree with
    it), ``region_name``, ``AWS_REGION`` (what ECS and Lambda set), ``AWS_DEFAULT_REGION``
    (the only one boto3 reads). Empty values count as unset. Raises :class:`ValueError` on
    a malformed ARN and on a region mismatch, naming both regions.
    """
    arn_region = check_topic_arn(topic_arn).region if topic_arn else None
    if arn_region and region_name and region_name != arn_region:
        raise ValueError(
            f"region mismatch: region_name is {region_name!r} but the topic ARN {topic_arn} "
            f"is in {arn_region!r} (SNS calls must go to the topic's region; drop region_name "
            "or fix the ARN)"
        )
    if arn_region or region_name:
        return arn_region or region_name
    env = os.environ if environ is None else environ
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = env.get(variable, "").strip()
        if value:
            return value
    return None


def node_queue_wildcard(queue_prefix: str) -> str:
    """An IAM resource pattern matching the node queues of ``queue_prefix`` and nothing else.

    ``<queue_prefix>-*`` would also match another cluster's queues when its prefix extends
    this one (``chat`` and ``chat-eu``); one ``?`` per uid character matches exactly
    ``<queue_prefix>-`` followed by 16 characters, which no other prefix's queue name can be.
    """
    return f"{queue_prefix}-{'?' * NODE_UID_LENGTH}"


def alive_mark(now: float | None = None) -> str:
    """The value of the :data:`TAG_ALIVE` tag for a refresh at ``now`` (default: now)."""
    return str(int(time.time() if now is None else now))


# ---------------------------------------------------------------------------- error codes

#: The queue does not exist (deleted by the cleanup, or never created).
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
#: An SNS topic or subscription does not exist.
NOT_FOUND_CODES = frozenset({"NotFound", "NotFoundException"})
#: The caller may not make the call.
AUTH_ERROR_CODES = frozenset({"AuthorizationError", "AccessDenied", "AccessDeniedException"})
#: Worth trying again: throttling and AWS-side trouble.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "KMSThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "AWS.SimpleQueueService.ServiceUnavailable",
        "AWS.SimpleQueueService.InternalError",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a failed call, or ``""`` when it is not an AWS error reply."""
    try:
        from botocore.exceptions import ClientError
    except ImportError:  # pragma: no cover - without botocore there are no AWS errors
        return ""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


# ---------------------------------------------------------------------------- permissions

#: What a node calls on its own queue (``arn:...:sqs:<region>:<account>:`` +
#: :func:`node_queue_wildcard`);
#: ``sqs:DeleteMessage`` also authorizes DeleteMessageBatch.
NODE_QUEUE_ACTIONS = (
    "sqs:CreateQueue",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
)
#: What a node calls on the cluster's topic (Unsubscribe and GetSubscriptionAttributes are
#: authorized against the topic of the subscription).
NODE_TOPIC_ACTIONS = (
    "sns:Publish",
    "sns:Subscribe",
    "sns:Unsubscribe",
    "sns:GetSubscriptionAttributes",
)
#: Every action a node needs (with a topic ARN given).
NODE_ACTIONS = NODE_TOPIC_ACTIONS + NODE_QUEUE_ACTIONS
#: Needed in addition without a topic ARN (the topic is created or found by name).
TOPIC_CREATION_ACTIONS = ("sns:CreateTopic",)
#: Needed in addition with a ``large_payload_bucket``, on its prefix (an emitter: PutObject).
PAYLOAD_ACTIONS = ("s3:PutObject", "s3:GetObject")
#: Needed in addition for ``manage_payload_lifecycle``, on the bucket.
PAYLOAD_LIFECYCLE_ACTIONS = ("s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration")
#: An emitter (given a topic ARN) only publishes.
EMITTER_ACTIONS = ("sns:Publish",)
#: The cleanup: ``sqs:ListQueues`` (no resource-level permission), the rest on the
#: cluster's queues, and the topic's subscriptions.
CLEANUP_ACTIONS = (
    "sqs:ListQueues",
    "sqs:ListQueueTags",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:DeleteQueue",
    "sns:ListSubscriptionsByTopic",
    "sns:Unsubscribe",
)

# ---------------------------------------------------------------------------- cost model


@dataclass(frozen=True)
class CallCosts:
    """API calls of one design for a cluster of ``nodes`` (AWS bills per call).

    ``per_broadcast``: calls for one broadcast reaching every node; ``per_request``: one
    request answered by every other node (``fetch_sockets``, ``server_side_emit`` with ack);
    ``per_idle_node_hour``: calls per node and hour with nothing but heartbeats, split into
    ``idle_publish``, ``idle_receive``, ``idle_delete`` and ``idle_liveness``.
    """

    nodes: int
    per_broadcast: float
    per_request: float
    idle_publish: float
    idle_receive: float
    idle_delete: float
    idle_liveness: float

    @property
    def per_idle_node_hour(self) -> float:
        return self.idle_publish + self.idle_receive + self.idle_delete + self.idle_liveness

    @property
    def idle_sqs(self) -> float:
        """Idle SQS requests per node-hour (TagQueue is one of the two liveness calls)."""
        return self.idle_receive + self.idle_delete + self.idle_liveness / 2

    @property
    def idle_sns(self) -> float:
        """Idle SNS requests per node-hour (GetSubscriptionAttributes is the other)."""
        return self.idle_publish + self.idle_liveness / 2


def node_design_costs(
    nodes: int, *, batch: float = 1.0, heartbeat_interval: float = NODE_HEARTBEAT_INTERVAL
) -> CallCosts:
    """The design of Node's ``@socket.io/aws-sqs-adapter``: no filter policy, so every queue
    receives every message, the sender's own included; one ReceiveMessage (5 s long poll,
    up to 10 messages) and one DeleteMessageBatch per received batch.

    ``batch``: messages per ReceiveMessage (1 when traffic is light, up to 10).

    - per broadcast: 1 Publish + N·(1/b ReceiveMessage + 1/b DeleteMessageBatch) = 1 + 2N/b
    - per request: the request and N-1 responses, each as a broadcast = N·(1 + 2N/b)
    - per idle node-hour: 720 heartbeats published, 720·N received and deleted one by one
      = 720·(1 + 2N) (a silent queue still ends a 5 s long poll 720 times an hour)
    """
    n, b = nodes, batch
    heartbeats = 3600 / heartbeat_interval
    polls = 3600 / NODE_WAIT_TIME
    return CallCosts(
        nodes=n,
        per_broadcast=1 + 2 * n / b,
        per_request=n * (1 + 2 * n / b),
        idle_publish=heartbeats,
        idle_receive=max(polls, heartbeats * n),
        idle_delete=heartbeats * n,
        idle_liveness=0.0,
    )


def our_costs(
    nodes: int,
    *,
    batch: float = 1.0,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    wait_time: float = DEFAULT_WAIT_TIME,
    delete_delay: float = DEFAULT_DELETE_DELAY,
    idle_coalesce: float = DEFAULT_IDLE_COALESCE,
    liveness_interval: float = DEFAULT_LIVENESS_INTERVAL,
) -> CallCosts:
    """This transport's design (the defaults are its defaults).

    The SNS filter policy keeps a node's own messages and others' responses out of its
    queue; deletes go in batches of 10 (or every ``delete_delay``).

    - per broadcast: 1 Publish + (N-1)/b ReceiveMessage + (N-1)/10 DeleteMessageBatch
    - per request: the request as a broadcast, plus N-1 responses each received by the
      requester alone: 1 + (N-1)·(1 + 1/b + 1/10) + (N-1)/b + (N-1)/10
    - per idle node-hour: 720 Publish (its heartbeats) + 720·min(N-1, 2) ReceiveMessage
      (every node heartbeats on the same clock tick, and an idle queue waits
      ``idle_coalesce`` after the first heartbeat of a tick so that a second receive takes
      all the others; at least one per long poll) + max(3600/delete_delay, 72·(N-1))
      DeleteMessageBatch + 2·3600/liveness_interval liveness calls (TagQueue and
      GetSubscriptionAttributes): N=2: 1584, N=4: 2400, N=10: 2832 with the defaults.
    """
    n, b = nodes, batch
    peers = n - 1
    broadcast = 1 + peers / b + peers / 10
    responses = peers * (1 + 1 / b + 1 / 10)
    heartbeats = 3600 / heartbeat_interval
    per_tick = min(peers, 2) if idle_coalesce else peers
    receive = max(3600 / wait_time, heartbeats * per_tick)
    # delete_delay 0: one DeleteMessageBatch per receive that brought messages
    delete = (
        max(3600 / delete_delay, heartbeats * peers / 10) if delete_delay else heartbeats * per_tick
    )
    return CallCosts(
        nodes=n,
        per_broadcast=broadcast,
        per_request=broadcast + responses,
        idle_publish=heartbeats,
        idle_receive=receive,
        idle_delete=delete,
        idle_liveness=2 * 3600 / liveness_interval,
    )
