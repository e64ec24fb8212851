"""Broker managers and emitters have typed, keyword-only options: a misspelt option is a
type error, and the defaults a manager shows are its transport's."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socketio_cloud.transports.aws import AwsSqsEmitter, AwsSqsManager, AwsSqsTransport
from socketio_cloud.transports.memory import MemoryManager, MemoryTransport
from socketio_cloud.transports.redis_streams import (
    RedisStreamsEmitter,
    RedisStreamsManager,
    RedisStreamsTransport,
)

ADAPTERS = Path(__file__).resolve().parents[1] / "adapters"

SNIPPET = """\
from socketio_cloud import AwsSqsManager, MemoryManager, RedisStreamsManager
from socketio_cloud import AwsSqsEmitter, RedisStreamsEmitter

AwsSqsManager(queue_prefx="x")  # line 4
RedisStreamsManager(stream_nam="x")  # line 5
MemoryManager(heartbeat_intervl=1.0)  # line 6
AwsSqsManager(wait_time="20")  # line 7
AwsSqsEmitter(queue_prefix="x")  # line 8: emitters have no queue
RedisStreamsEmitter(block_time=1.0)  # line 9: nor readers

AwsSqsManager(queue_prefix="x", wait_time=5, heartbeat_interval=2.0, requests_timeout=3)
RedisStreamsManager(url="redis://127.0.0.1:6379/0", stream_count=2, heartbeat_timeout=6.0)
AwsSqsEmitter(topic_arn="arn:aws:sns:us-east-1:123456789012:t", namespace="/chat")
RedisStreamsEmitter(stream_name="s", namespace="/chat")
"""


@pytest.mark.slow
def test_a_misspelt_or_mistyped_option_is_a_mypy_error(tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(SNIPPET)
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed next to this Python")
    # this checkout's library first, whatever copy is installed; no project configuration
    env = {**os.environ, "MYPYPATH": str(ADAPTERS)}
    completed = subprocess.run(
        [str(mypy), "--no-incremental", "--config-file", os.devnull, "snippet.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = completed.stdout + completed.stderr
    errors = [line for line in output.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [4, 5, 6, 7, 8, 9], output
    assert 'Unexpected keyword argument "queue_prefx"' in output
    assert 'Unexpected keyword argument "stream_nam"' in output


def _defaults(callable_: Any) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(callable_).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


@pytest.mark.parametrize(
    ("face", "transport"),
    [
        (AwsSqsManager, AwsSqsTransport),
        (AwsSqsEmitter, AwsSqsTransport),
        (RedisStreamsManager, RedisStreamsTransport),
        (RedisStreamsEmitter, RedisStreamsTransport),
        (MemoryManager, MemoryTransport),
    ],
)
def test_options_show_the_transports_defaults(face: type, transport: type) -> None:
    options = _defaults(face)
    transport_options = _defaults(transport)
    shared = set(options) & set(transport_options)
    assert {name: options[name] for name in shared} == {
        name: transport_options[name] for name in shared
    }
    # everything but the face's own (namespace, bus) configures the transport
    assert set(options) - shared <= {"namespace", "bus"}


@pytest.mark.parametrize(
    ("manager", "transport"),
    [(AwsSqsManager, AwsSqsTransport), (RedisStreamsManager, RedisStreamsTransport)],
)
def test_a_manager_takes_every_option_of_its_transport(manager: type, transport: type) -> None:
    # limits is a cluster option, passed on to the transport
    assert set(_defaults(transport)) - {"limits"} == set(_defaults(manager))


def test_managers_take_keyword_options_only() -> None:
    with pytest.raises(TypeError):
        MemoryManager(None)  # type: ignore[misc]
    with pytest.raises(TypeError):
        AwsSqsManager(queue_prefx="x")  # type: ignore[call-arg]
