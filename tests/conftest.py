import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))   # tests/reference.py and helpers


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
