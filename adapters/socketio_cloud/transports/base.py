"""Former home of the transport contract, kept for imports written against 0.1.

The contract is :mod:`socketio_cloud.transport`; the runtime is :mod:`socketio_cloud.runtime`.
"""

from __future__ import annotations

from ..runtime import log_rejected
from ..transport import MessageHandler, Transport

__all__ = ["MessageHandler", "Transport", "log_rejected"]
