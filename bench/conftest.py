"""Per-message medians and fast-vs-baseline ratios, and latency distributions, printed after
pytest-benchmark's table."""

import pytest

# group -> {"fast" | "baseline": median seconds per message}
_PER_MESSAGE: dict[str, dict[str, float]] = {}
# "group name" -> a distribution in microseconds: {"orders": .., "misses": .., "p50_us": .., ...}
_LATENCIES: dict[str, dict[str, float]] = {}
LATENCY_KEYS = ("orders", "misses", "p50_us", "p90_us", "p99_us", "max_us")


@pytest.fixture
def record_per_message(benchmark):
    """Call after benchmark(...) with the role and the messages one round handles."""
    def record(role, n_messages):
        if benchmark.stats:     # None when run with --benchmark-disable
            median = benchmark.stats.stats.median / n_messages
            benchmark.extra_info["median_ns_per_message"] = median * 1e9
            _PER_MESSAGE.setdefault(benchmark.group, {})[role] = median
    return record


@pytest.fixture
def record_latencies(benchmark):
    """Call after benchmark.pedantic(...) with a row name and a report holding LATENCY_KEYS
    (samples measured by the benchmark itself: pytest-benchmark's timing is of the whole run)."""
    def record(name, report):
        distribution = {key: report[key] for key in LATENCY_KEYS}
        benchmark.extra_info.update(distribution)
        if benchmark.stats:     # None when run with --benchmark-disable
            _LATENCIES[f"{benchmark.group} {name}"] = distribution
    return record


def pytest_terminal_summary(terminalreporter):
    _per_message_section(terminalreporter)
    _latency_section(terminalreporter)


def _per_message_section(terminalreporter):
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


def _latency_section(terminalreporter):
    if not _LATENCIES:
        return
    terminalreporter.section("latency distributions (us)")
    terminalreporter.write_line(f"{'':<32} {'orders':>7} {'misses':>7} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}")
    for name, d in sorted(_LATENCIES.items()):
        terminalreporter.write_line(f"{name:<32} {d['orders']:>7} {d['misses']:>7} {d['p50_us']:>9.1f} "
                                    f"{d['p90_us']:>9.1f} {d['p99_us']:>9.1f} {d['max_us']:>9.1f}")
