"""Binance server time from ``GET /api/v3/time`` round trips, and the -1021 retry rule.

The offset maps the reactor's clock (monotonic ns) straight to server epoch ms, so request
timestamps never read the wall clock: an NTP step on the host cannot move them, and replay
with a manual clock gives the same timestamps. For a round trip sent at ``send_ns`` and
answered at ``recv_ns`` with ``serverTime``::

    offset_ms = serverTime - (send_ns + recv_ns) / 2 / 1e6

The server stamped its time somewhere inside the round trip, so the error is at most half the
round trip: of the last few samples the one with the smallest round trip wins (docs/binance.md, Server time).

-1021 (timestamp outside recvWindow / ahead of the server) means the clock is off: measure
again, then send the request once more with a fresh timestamp; a second -1021 for the same
request is not retried. An order rejected with -1021 was never placed, so the retry cannot
duplicate it.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Any

from dmabot.venues.binance.protocol.wire import FieldReader, ParseError

NS_PER_MS = 1_000_000
DEFAULT_SAMPLES = 5
DEFAULT_RESYNC_NS = 60 * 1_000_000_000  # Binance advises measuring again every 1-5 minutes


class ClockState(enum.Enum):
    UNSYNCED = "UNSYNCED"  # no sample yet: signed requests would be guesses
    SYNCED = "SYNCED"
    RESYNC_DUE = "RESYNC_DUE"  # still usable, but a -1021 or the resync interval asks for a sample


class RetryDecision(enum.Enum):
    RESYNC_AND_RETRY = "RESYNC_AND_RETRY"  # measure the offset, then resend with a new timestamp
    GIVE_UP = "GIVE_UP"  # second -1021 for the same request: report the rejection


@dataclass(frozen=True, slots=True)
class TimeSample:
    send_ns: int
    recv_ns: int
    server_ms: int

    @property
    def rtt_ns(self) -> int:
        return self.recv_ns - self.send_ns

    @property
    def offset_ms(self) -> float:
        return self.server_ms - (self.send_ns + self.recv_ns) / 2 / NS_PER_MS


def parse_server_time(body: Any) -> int:
    """``serverTime`` of a ``GET /api/v3/time`` reply."""
    return FieldReader(body, "server time").integer("serverTime")


class ServerClock:
    """Reactor time -> Binance server time, from the best of the last few round trips."""

    __slots__ = ("resync_ns", "_samples", "_best", "_offset_ms", "_synced_at_ns", "_resync_requested", "_retried")

    def __init__(self, max_samples: int = DEFAULT_SAMPLES, resync_ns: int = DEFAULT_RESYNC_NS) -> None:
        if max_samples < 1:
            raise ValueError("need room for at least one sample")
        self.resync_ns = resync_ns
        self._samples: deque[TimeSample] = deque(maxlen=max_samples)
        self._best: TimeSample | None = None
        self._offset_ms = 0.0       # the best sample's, kept: every signed request reads it
        self._synced_at_ns = 0
        self._resync_requested = False
        # request keys that already had their one -1021 retry
        self._retried: set[object] = set()

    def on_time_response(self, send_ns: int, recv_ns: int, server_ms: int) -> TimeSample:
        """Record one ``GET /api/v3/time`` round trip; returns the sample now in use."""
        if recv_ns < send_ns:
            raise ValueError(f"reply before request: send {send_ns} ns, receive {recv_ns} ns")
        if server_ms <= 0:
            raise ParseError(f"serverTime must be positive, got {server_ms}")
        self._samples.append(TimeSample(send_ns, recv_ns, server_ms))
        # Older samples age out, so a drifting clock is followed; ties go to the newest.
        self._best = min(reversed(self._samples), key=_rtt)
        self._offset_ms = self._best.offset_ms
        self._synced_at_ns = recv_ns
        self._resync_requested = False
        return self._best

    def state(self, now_ns: int) -> ClockState:
        if self._best is None:
            return ClockState.UNSYNCED
        if self._resync_requested or now_ns - self._synced_at_ns >= self.resync_ns:
            return ClockState.RESYNC_DUE
        return ClockState.SYNCED

    @property
    def offset_ms(self) -> float:
        """Server epoch ms minus reactor ms; raises if never synced."""
        return self._sample().offset_ms

    @property
    def uncertainty_ms(self) -> float:
        """Half the best round trip: how far the offset can be from the truth."""
        return self._sample().rtt_ns / 2 / NS_PER_MS

    def timestamp_ms(self, now_ns: int) -> int:
        """The ``timestamp`` to sign a request made at reactor time `now_ns` with."""
        # Truncation keeps it at or behind the estimate: ahead by 1 s is rejected, behind is not.
        if self._best is None:
            self._sample()  # raises: never synced
        return int(now_ns / NS_PER_MS + self._offset_ms)

    def on_invalid_timestamp(self, request_key: object) -> RetryDecision:
        """A request (keyed by e.g. its client order id) was rejected with -1021."""
        self._resync_requested = True
        if request_key in self._retried:
            self._retried.discard(request_key)
            return RetryDecision.GIVE_UP
        self._retried.add(request_key)
        return RetryDecision.RESYNC_AND_RETRY

    def on_request_done(self, request_key: object) -> None:
        """The request got any answer but -1021: forget its retry."""
        self._retried.discard(request_key)

    def _sample(self) -> TimeSample:
        if self._best is None:
            raise RuntimeError("server clock not synced: no GET /api/v3/time round trip yet")
        return self._best


def _rtt(sample: TimeSample) -> int:
    return sample.rtt_ns
