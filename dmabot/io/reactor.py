"""The reactor: the only place that touches selectors, signals and the clock.

One thread. A `selectors.DefaultSelector` (epoll on Linux) for readiness, one heap of
timers, and a cached loop time. Every callback, whether `call_soon`, `call_at` or
`call_later`, is a timer keyed by ``(due_ns, priority, seq)``, and timers run strictly in
that order: a loop iteration runs every timer due before its time, even ones scheduled
during the iteration, and those due exactly at it that were scheduled before it began.
Because a callback always runs at or after its due time and in key order, anything that
stamps events with the due time of the callback that produced them (the mock feed does)
sees the same interleaving of ticks and venue timers whether the clock is real or driven
by a replay.

The clock is injectable: `MonotonicClock` reads `time.monotonic_ns`; `ManualClock` only
moves when told to, and the reactor advances it straight to the next timer instead of
sleeping, so tests and replay run as fast as the CPU allows.
"""
from __future__ import annotations

import heapq
import logging
import selectors
import signal
import socket
import time
from typing import Any, Callable

log = logging.getLogger("dmabot.reactor")

NS = 1_000_000_000   # the reactor's clock counts nanoseconds: one second of it

# Timer priorities at equal due times: venue and housekeeping timers before market data,
# so a fill due at t is applied before a tick stamped t, live and in replay alike.
PRIO_DEFAULT = 0
PRIO_MARKET_DATA = 1


class MonotonicClock:
    """Wall monotonic time in nanoseconds; the reactor sleeps in `select` until timers."""

    virtual = False

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def advance_to(self, t_ns: int) -> None:  # pragma: no cover - real time moves itself
        pass


class ManualClock:
    """A clock that moves only when told to (tests, replay)."""

    virtual = True

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, t_ns: int) -> None:
        if t_ns > self._now:
            self._now = t_ns


def _cancelled(*_args: Any) -> None:
    """What a cancelled timer holds instead of its callback."""


class TimerHandle:
    """A scheduled callback; `cancel()` keeps it from running.

    A cancelled timer stays in the heap until its due time, so `cancel()` drops the callback
    and its arguments at once: a bound method held there would keep its object (a closed
    connection, its socket and TLS state) alive for as long as the timer's delay.
    """

    __slots__ = ("due", "prio", "seq", "callback", "args", "cancelled")

    def __init__(self, due: int, prio: int, seq: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.due = due
        self.prio = prio
        self.seq = seq
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _cancelled
        self.args = ()

    def __lt__(self, other: "TimerHandle") -> bool:
        return (self.due, self.prio, self.seq) < (other.due, other.prio, other.seq)

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"<TimerHandle due={self.due} prio={self.prio} {name}{' cancelled' if self.cancelled else ''}>"


class Reactor:
    """Single-threaded event loop on `selectors` with a nanosecond timer heap."""

    def __init__(self, clock: MonotonicClock | ManualClock | None = None) -> None:
        self.clock = clock if clock is not None else MonotonicClock()
        self._selector = selectors.DefaultSelector()
        self._timers: list[TimerHandle] = []
        self._next_seq = 0
        self._now = self.clock.now_ns()
        self._stop_requested = False
        self._wakeup_r: socket.socket | None = None
        self._wakeup_w: socket.socket | None = None
        self._old_handlers: dict[int, Any] = {}
        self._on_stop: list[Callable[[], None]] = []
        self.stop_signal: int | None = None

    # -- time --------------------------------------------------------------------------
    def now(self) -> int:
        """Loop time in ns: read once per iteration so one callback sees one instant."""
        return self._now

    def refresh_now(self) -> int:
        """Re-read the clock (for latency measurement, never for decisions)."""
        self._now = max(self._now, self.clock.now_ns())
        return self._now

    # -- scheduling --------------------------------------------------------------------
    def call_at(self, due_ns: int, callback: Callable[..., Any], *args: Any, prio: int = PRIO_DEFAULT) -> TimerHandle:
        handle = TimerHandle(int(due_ns), prio, self._next_seq, callback, args)
        self._next_seq += 1
        heapq.heappush(self._timers, handle)
        return handle

    def call_later(self, delay_ns: int, callback: Callable[..., Any], *args: Any,
                   prio: int = PRIO_DEFAULT) -> TimerHandle:
        return self.call_at(self._now + max(0, int(delay_ns)), callback, *args, prio=prio)

    def call_soon(self, callback: Callable[..., Any], *args: Any, prio: int = PRIO_DEFAULT) -> TimerHandle:
        return self.call_at(self._now, callback, *args, prio=prio)

    # -- file descriptors --------------------------------------------------------------
    def _update(self, fileobj: Any, mask: int, callback: Callable[[], None] | None) -> None:
        try:
            key = self._selector.get_key(fileobj)
        except (KeyError, ValueError):   # ValueError: a closed socket, already forgotten
            key = None
        reader, writer = key.data if key else (None, None)
        if mask == selectors.EVENT_READ:
            reader = callback
        else:
            writer = callback
        events = (selectors.EVENT_READ if reader else 0) | (selectors.EVENT_WRITE if writer else 0)
        if key is None:
            if events:
                self._selector.register(fileobj, events, (reader, writer))
        elif events:
            self._selector.modify(fileobj, events, (reader, writer))
        else:
            self._selector.unregister(fileobj)

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        self._update(fileobj, selectors.EVENT_READ, callback)

    def remove_reader(self, fileobj: Any) -> None:
        self._update(fileobj, selectors.EVENT_READ, None)

    def add_writer(self, fileobj: Any, callback: Callable[[], None]) -> None:
        self._update(fileobj, selectors.EVENT_WRITE, callback)

    def remove_writer(self, fileobj: Any) -> None:
        self._update(fileobj, selectors.EVENT_WRITE, None)

    # -- signals -----------------------------------------------------------------------
    def install_signal_handlers(self, signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        """Turn SIGINT/SIGTERM into a graceful `stop()` via a wakeup fd.

        The Python-level handler only records the signal; the byte written to the wakeup
        socket by the C-level handler wakes `select`, and the loop stops between callbacks.
        """
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        self.add_reader(self._wakeup_r, self._drain_wakeup)
        for signum in signums:
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_signal = signum
        self._stop_requested = True

    def _drain_wakeup(self) -> None:
        assert self._wakeup_r is not None
        try:
            while self._wakeup_r.recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def restore_signal_handlers(self) -> None:
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        if self._wakeup_r is not None:
            signal.set_wakeup_fd(-1)
            self.remove_reader(self._wakeup_r)
            self._wakeup_r.close()
            assert self._wakeup_w is not None
            self._wakeup_w.close()
            self._wakeup_r = self._wakeup_w = None

    # -- running -----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to return after the current callback."""
        self._stop_requested = True

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    def next_due(self) -> int | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def advance_to(self, t_ns: int) -> None:
        """Manual clock: run every timer due up to t_ns, in order, then stand at t_ns.

        Timers due at the same instant run as one batch, as a live loop iteration would run
        them; what they schedule for that instant runs next, before time moves on.
        """
        if not self.clock.virtual:
            raise RuntimeError("advance_to needs a manual clock")
        while True:
            due = self.next_due()
            if due is None or due > t_ns:
                break
            self.clock.advance_to(due)
            self._now = max(self._now, due)
            self._run_due_timers()
        self.clock.advance_to(t_ns)
        self._now = max(self._now, t_ns)

    def run(self) -> None:
        """Run until `stop()` or a stop signal; with a manual clock, until nothing is left.

        A stop asked for before `run` (a signal during start-up) makes it return at once.
        An exception from a callback ends the loop and propagates: a bug stops the engine
        (its shutdown still flushes the recorder) rather than trading on in a broken state.
        """
        try:
            while not self._stop_requested:
                if not self.run_once():
                    break
        finally:
            self._stop_requested = False

    def run_once(self) -> bool:
        """One iteration: poll, read the clock, run the timers due by then, then the I/O
        callbacks. Data read in this iteration is stamped with its time, so it comes after
        every timer due by that time, the order a replay of the recorded data reproduces.

        Returns False when a manual-clock loop has no timers and no file descriptors left.
        """
        due = self.next_due()
        if self.clock.virtual:
            if due is None and not self._selector.get_map():
                return False
            # I/O already waiting happens now; only an idle loop jumps to the next timer
            events = self._selector.select(0)
            if not events and due is not None:
                self.clock.advance_to(due)
        else:
            timeout = None if due is None else max(0, due - self.clock.now_ns()) / 1e9
            try:
                events = self._selector.select(timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries select itself
                events = []
        self._now = max(self._now, self.clock.now_ns())
        self._run_due_timers()
        for key, mask in events:
            if self._stop_requested:
                break
            # an earlier callback of this batch may have removed or closed this one
            if mask & selectors.EVENT_READ:
                self._call_registered(key.fileobj, 0)
            if mask & selectors.EVENT_WRITE:
                self._call_registered(key.fileobj, 1)
        return True

    def _call_registered(self, fileobj: Any, which: int) -> None:
        try:
            callback = self._selector.get_key(fileobj).data[which]
        except (KeyError, ValueError):
            return
        if callback is not None:
            callback()

    def _run_due_timers(self) -> None:
        """Run timers strictly in (due, priority, seq) order, including ones the batch itself
        schedules for earlier than now (a feed catching up); those it schedules for exactly
        now (call_soon) wait for the next iteration, so I/O is polled between them."""
        now = self._now
        timers = self._timers
        first_new_seq = self._next_seq
        while timers and not self._stop_requested:
            head = timers[0]
            if head.due > now or (head.due == now and head.seq >= first_new_seq):
                return
            heapq.heappop(timers)
            if not head.cancelled:
                head.callback(*head.args)

    def close(self) -> None:
        self.restore_signal_handlers()
        self._selector.close()
