"""The integration tests' shared fixture: a real-clock reactor, closed after the test."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmabot.io.reactor import Reactor


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    r = Reactor()
    yield r
    r.close()
