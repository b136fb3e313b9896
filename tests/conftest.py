import socket

import pytest


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The simulator as a Binance venue and engines trading it (tests/helpers/binance_venue.py), for the
# end-to-end order, account and rate-limit tests; modules with a simulator of their own
# (streams only, in-process) define their own `sim` and `engine_factory`.
@pytest.fixture
def sim(tmp_path):
    from tests.helpers.binance_venue import SimVenue

    venue = SimVenue(tmp_path)
    yield venue
    venue.stop()


@pytest.fixture
def engine_factory(tmp_path, free_port):
    from tests.helpers.binance_venue import engines

    with engines(tmp_path, free_port) as make:
        yield make
