"""ServiceBusManager and ServiceBusEmitter options are typed, keyword-only and show the
transport's defaults; a misspelt option is a mypy error."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socketio_cloud.transports.servicebus import (
    ServiceBusEmitter,
    ServiceBusManager,
    ServiceBusTransport,
)

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"

SNIPPET = """\
from socketio_cloud import ServiceBusEmitter, ServiceBusManager

ServiceBusManager(connection_string="x", subscription_prefx="p")  # line 3
ServiceBusManager(connection_string="x", max_wait_time="5")  # line 4
ServiceBusEmitter(connection_string="x", subscription_prefix="p")  # line 5: no subscription

ServiceBusManager(connection_string="x", topic_name="t", heartbeat_interval=2.0)
ServiceBusEmitter(fully_qualified_namespace="ns.servicebus.windows.net", namespace="/chat")
"""


def _defaults(callable_: Any) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(callable_).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


@pytest.mark.parametrize("face", [ServiceBusManager, ServiceBusEmitter])
def test_options_show_the_transports_defaults(face: type) -> None:
    options = _defaults(face)
    transport_options = _defaults(ServiceBusTransport)
    shared = set(options) & set(transport_options)
    assert {name: options[name] for name in shared} == {
        name: transport_options[name] for name in shared
    }
    assert set(options) - shared <= {"namespace"}


def test_the_manager_takes_every_option_of_its_transport() -> None:
    # limits is a cluster option, passed on to the transport
    assert set(_defaults(ServiceBusTransport)) - {"limits"} == set(_defaults(ServiceBusManager))


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ServiceBusManager("Endpoint=sb://x/")  # type: ignore[misc]


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
    assert 'Unexpected keyword argument "subscription_prefx"' in output
