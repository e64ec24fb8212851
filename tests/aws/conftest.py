"""Fixtures of the AWS cleanup tests: clients of the session's moto server, a cluster prefix
and topic of the test's own, and the clock the tests hand to the cleanup."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.aws import create_topic, unique_prefix
from tests.support.moto import MotoServer


@pytest.fixture
def sqs(moto_server: MotoServer) -> Any:
    return moto_server.client("sqs")


@pytest.fixture
def sns(moto_server: MotoServer) -> Any:
    return moto_server.client("sns")


@pytest.fixture
def now() -> float:
    """The time a test starts at (tests pass it to cleanup instead of waiting)."""
    return time.time()


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def topic_arn(sns: Any, prefix: str) -> str:
    return create_topic(sns, prefix)
