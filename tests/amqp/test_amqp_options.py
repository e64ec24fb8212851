"""AmqpManager and AmqpEmitter have typed, keyword-only options with the transport's
defaults: a misspelt option is a type error."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socketio_cloud.transports.amqp import AmqpEmitter, AmqpManager, AmqpTransport

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"

SNIPPET = """\
from socketio_cloud import AmqpEmitter, AmqpManager

AmqpManager(exchang="x")  # line 3
AmqpManager(prefetch="10")  # line 4
AmqpEmitter(queue_prefix="x")  # line 5: emitters have no queue

AmqpManager(url="amqp://localhost/", exchange="x", max_room_bindings=10, heartbeat_interval=2.0)
AmqpEmitter(url="amqp://localhost/", exchange="x", namespace="/chat")
"""


def _defaults(callable_: Any) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(callable_).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


@pytest.mark.parametrize("face", [AmqpManager, AmqpEmitter])
def test_options_show_the_transports_defaults(face: type) -> None:
    options = _defaults(face)
    transport_options = _defaults(AmqpTransport)
    shared = set(options) & set(transport_options)
    assert {name: options[name] for name in shared} == {
        name: transport_options[name] for name in shared
    }
    assert set(options) - shared <= {"namespace"}


def test_the_manager_takes_every_option_of_its_transport() -> None:
    assert set(_defaults(AmqpTransport)) - {"limits"} == set(_defaults(AmqpManager))


@pytest.mark.slow
def test_a_misspelt_or_mistyped_option_is_a_mypy_error(tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(SNIPPET)
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed next to this Python")
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
    assert sorted({int(line.split(":")[1]) for line in errors}) == [3, 4, 5], output
