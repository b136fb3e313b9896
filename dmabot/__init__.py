"""dmabot: a small, fast crypto trading engine (one-thread reactor, Cython hot path)."""
__version__ = "0.1.0"
