"""The AWS broker: one SNS topic per cluster, one SQS queue per node.

Split by job:

- :mod:`.framing`: attributes, sizes, the filter policy, decoding a received SQS message;
- :mod:`.lifecycle`: the node's queue and subscription (creation, delivery probes,
  re-creation, liveness mark, deletion);
- :mod:`.transport`: :class:`AwsSqsTransport` (publishing, polling, dispatch, batched
  deletes, idle coalescing);
- :mod:`.calls`: boto3 calls off the event loop, counted and classified;
- :mod:`.payloads`: the S3 store for payloads over SNS's limit;
- :mod:`.manager`: :class:`AwsSqsManager` and :class:`AwsSqsEmitter`.

Names, tags, defaults, error codes, permissions and the cost model are in
:mod:`socketio_cloud.brokers.aws`.
"""

from __future__ import annotations

from ...brokers.aws import DEFAULT_TOPIC_NAME, SNS_MAX_MESSAGE_SIZE
from .framing import filter_policy, published_size
from .manager import AwsSqsEmitter, AwsSqsManager
from .transport import AwsSqsTransport

__all__ = [
    "DEFAULT_TOPIC_NAME",
    "SNS_MAX_MESSAGE_SIZE",
    "AwsSqsEmitter",
    "AwsSqsManager",
    "AwsSqsTransport",
    "filter_policy",
    "published_size",
]
