"""pytest fixture starting one Service Bus double per test session.

Register with ``pytest_plugins = ["tests.servicebus_double.fixtures"]``. Tests get a
:class:`~tests.servicebus_double.double.ServiceBusDoubleThread`; give each test its own topic
names, since the namespace is shared by the session.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from tests.support.services import require_service

from .double import ServiceBusDouble, ServiceBusDoubleThread

# Auto-delete-on-idle of the 5-minute minimum passes in 1.5 s on the shared double.
IDLE_SCALE = 0.005


@pytest.fixture(scope="session")
def servicebus_double() -> Iterator[ServiceBusDoubleThread]:
    require_service(
        importlib.util.find_spec("azure.servicebus") is not None,
        "azure-servicebus is not installed (pip install -e '.[azure]')",
    )
    runner = ServiceBusDoubleThread(ServiceBusDouble(idle_scale=IDLE_SCALE)).open()
    try:
        yield runner
    finally:
        runner.close()
