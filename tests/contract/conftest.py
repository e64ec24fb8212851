"""The transport contract suite runs on every backend that can make bare transports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backends import BACKENDS


@pytest.fixture(params=BACKENDS)
def contract_backend(request: pytest.FixtureRequest) -> Any:
    backend = request.getfixturevalue(f"backend_{request.param}")
    if not hasattr(backend, "make_transport"):
        pytest.fail(f"backend {request.param} cannot make bare transports")
    return backend
