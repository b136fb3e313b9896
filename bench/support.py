"""Helpers shared by the benchmarks."""

def report(benchmark, key: str, from_median) -> None:
    """Store from_median(median seconds) as extra info; with --benchmark-disable (CI runs
    the benchmarks once to keep them working) there are no statistics to report."""
    if benchmark.stats is not None:
        benchmark.extra_info[key] = from_median(benchmark.stats.stats.median)
