import gc
import os
import signal
import socket
import weakref

from dmabot.io.reactor import PRIO_MARKET_DATA, ManualClock, Reactor


def test_timers_run_in_due_then_priority_then_fifo_order():
    r = Reactor(ManualClock(100))
    seen = []
    r.call_at(300, seen.append, "c")
    r.call_at(200, seen.append, "md", prio=PRIO_MARKET_DATA)
    r.call_at(200, seen.append, "b1")
    r.call_at(200, seen.append, "b2")
    r.call_soon(seen.append, "now")
    r.call_later(50, seen.append, "later")
    r.run()
    assert seen == ["now", "later", "b1", "b2", "md", "c"]
    assert r.now() == 300


def test_manual_clock_jumps_to_each_timer():
    r = Reactor(ManualClock(0))
    stamps = []
    r.call_at(1_000, lambda: stamps.append(r.now()))
    r.call_at(5_000_000_000, lambda: stamps.append(r.now()))
    r.run()
    assert stamps == [1_000, 5_000_000_000]


def test_cancelled_timer_does_not_run():
    r = Reactor(ManualClock(0))
    seen = []
    h = r.call_at(10, seen.append, 1)
    r.call_at(20, seen.append, 2)
    h.cancel()
    r.run()
    assert seen == [2]


def test_cancelled_timer_lets_go_of_its_callback_at_once():
    # It stays in the heap until due; what it would have called must not live on with it.
    class Connection:
        def on_timeout(self, why):
            pass

    r = Reactor(ManualClock(0))
    conn, arg = Connection(), Connection()
    alive = weakref.ref(conn), weakref.ref(arg)
    gc.disable()
    try:
        handle = r.call_later(60_000_000_000, conn.on_timeout, arg)
        handle.cancel()
        del conn, arg
        assert [ref() for ref in alive] == [None, None]
    finally:
        gc.enable()
    assert r.next_due() is None


def test_callbacks_scheduled_now_run_next_iteration_so_io_is_polled():
    r = Reactor(ManualClock(0))
    order = []

    def again(n):
        order.append(n)
        if n < 3:
            r.call_soon(again, n + 1)

    r.call_soon(again, 0)
    assert r.run_once() and order == [0]
    assert r.run_once() and order == [0, 1]


def test_stop_inside_a_batch_keeps_the_rest_scheduled():
    r = Reactor(ManualClock(0))
    seen = []
    r.call_at(5, lambda: (seen.append("stop"), r.stop()))
    r.call_at(5, seen.append, "after")
    r.run()
    assert seen == ["stop"]
    r.run()
    assert seen == ["stop", "after"]


def test_reader_and_writer_callbacks():
    r = Reactor()
    a, b = socket.socketpair()
    a.setblocking(False)
    got = []

    def on_read():
        got.append(a.recv(100))
        r.remove_reader(a)
        r.stop()

    r.add_reader(a, on_read)
    wrote = []
    r.add_writer(b, lambda: (wrote.append(b.send(b"ping")), r.remove_writer(b)))
    r.call_later(5_000_000_000, r.stop)       # safety net: fail, not hang
    r.run()
    assert wrote == [4] and got == [b"ping"]
    r.remove_reader(a)                         # removing twice is harmless
    a.close()
    b.close()
    r.close()


def test_sigterm_stops_the_loop_gracefully():
    r = Reactor()
    r.install_signal_handlers()
    try:
        r.call_soon(os.kill, os.getpid(), signal.SIGTERM)
        r.call_later(5_000_000_000, r.stop)
        r.run()
        assert r.stop_signal == signal.SIGTERM
    finally:
        r.close()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_stop_before_run_is_not_lost():
    r = Reactor(ManualClock(0))
    seen = []
    r.call_at(10, seen.append, 1)
    r.stop()
    r.run()
    assert seen == []
    r.run()
    assert seen == [1]


def test_a_reader_removed_by_an_earlier_callback_of_the_batch_does_not_run():
    r = Reactor()
    a1, a2 = socket.socketpair()
    b1, b2 = socket.socketpair()
    a2.send(b"x")
    b2.send(b"y")
    seen = []

    def on_a():
        seen.append("a")
        r.remove_reader(b1)
        r.remove_reader(a1)

    def on_b():
        seen.append("b")
        r.remove_reader(b1)
        r.remove_reader(a1)

    r.add_reader(a1, on_a)
    r.add_reader(b1, on_b)
    r.run_once()
    assert seen in (["a"], ["b"])
    for s in (a1, a2, b1, b2):
        s.close()
    r.remove_reader(a1)        # closed and unregistered: harmless
    r.close()
