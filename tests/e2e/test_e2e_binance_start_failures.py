"""What stops the engine at start, end to end, against the simulator. Credentials the venue
refuses (the simulator started with another secret or key than the engine's): asking again can
never succeed, so the engine stops at the first refusal with one line naming the problem, exit
status 2 (a configuration error), and neither its secret nor a signature anywhere in its output.
A venue host that does not resolve is no configuration error: exit status 3, for a supervisor
to restart it."""
from __future__ import annotations

import re

import pytest

from tests.helpers.binance_venue import SECRET

WRONG_SECRET = "wrong-s3cret-never-logged"


@pytest.mark.parametrize("env, problem", [
    ({"BINANCE_API_SECRET": WRONG_SECRET}, "the signature is not valid for this API key"),
    ({"BINANCE_API_KEY": "not-the-sims-key"}, "the API key is refused"),
])
def test_refused_credentials_stop_the_engine_with_one_line_naming_them(sim, engine_factory, env, problem):
    engine = engine_factory(sim, **env)
    assert engine.proc.wait(timeout=20) == 2
    log = engine.log.read_text()
    named = [line for line in log.splitlines() if problem in line]
    assert len(named) == 1, log
    assert "check BINANCE_API_KEY and BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_FILE)" in named[0]
    assert WRONG_SECRET not in log and SECRET not in log
    assert not re.search(r"signature=[0-9a-f]{16}", log)
    assert "b'" not in log and 'b"' not in log


def test_a_host_that_does_not_resolve_at_start_exits_3_naming_the_key(sim, engine_factory):
    engine = engine_factory(sim, BINANCE_REST_URL="https://dmabot-test.invalid")
    assert engine.proc.wait(timeout=20) == 3
    errors = [line for line in engine.log.read_text().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "venue unreachable at start: BINANCE_REST_URL='https://dmabot-test.invalid' " \
        "cannot be reached: cannot resolve dmabot-test.invalid:443" in errors[0], errors
    assert "config error" not in errors[0]
