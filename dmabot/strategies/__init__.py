"""Strategies: the built-in kernels (`builtin`), subclasses of `dmabot.core.strategy.StrategyWorker`."""
