"""The official Pub/Sub emulator for the tests, started once per session by the
``pubsub_emulator`` fixture (tests/backends/pubsub.py); the class lives with the demo's
embedded brokers."""

from __future__ import annotations

from app.embedded_pubsub import PubSubEmulator, find_emulator

__all__ = ["PubSubEmulator", "find_emulator"]
