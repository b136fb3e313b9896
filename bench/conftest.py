"""Per-message medians and fast-vs-baseline ratios, printed after pytest-benchmark's table."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))   # bench/plain_pipeline.py

# group -> {"fast" | "baseline": median seconds per message}
_PER_MESSAGE: dict[str, dict[str, float]] = {}


@pytest.fixture
def record_per_message(benchmark):
    """Call after benchmark(...) with the role and the messages one round handles."""
    def record(role, n_messages):
        if benchmark.stats:     # None when run with --benchmark-disable
            median = benchmark.stats.stats.median / n_messages
            benchmark.extra_info["median_ns_per_message"] = median * 1e9
            _PER_MESSAGE.setdefault(benchmark.group, {})[role] = median
    return record


def pytest_terminal_summary(terminalreporter):
    if not _PER_MESSAGE:
        return
    terminalreporter.section("per-message medians")
    for group, roles in sorted(_PER_MESSAGE.items()):
        line = f"{group:<24}"
        for role in ("fast", "baseline"):
            if role in roles:
                line += (f" {role} {roles[role] * 1e9:8.1f} ns/msg"
                         f" ({1 / roles[role] / 1e6:6.2f} M msg/s)")
        if len(roles) == 2:
            line += f"   baseline/fast = {roles['baseline'] / roles['fast']:.1f}x"
        terminalreporter.write_line(line)
