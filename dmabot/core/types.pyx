"""Domain objects of the hot path: `Order` and `ExecReport` (see types.pxd)."""
cimport cython
from libc.stdint cimport int32_t, int64_t

from dmabot.core.types cimport N_EXEC_STATUS


@cython.freelist(64)
cdef class Order:
    """A child order routed to one venue. Fields are read-only."""

    def __init__(self, int64_t order_id, int64_t signal_id, int64_t ts, int32_t sym,
                 int32_t strategy, int32_t worker, int32_t venue, int32_t side,
                 double px, double qty, int64_t t_signal_wall=0):
        if side != 1 and side != -1:
            raise ValueError(f"side must be 1 (BUY) or -1 (SELL), got {side}")
        self.order_id = order_id
        self.signal_id = signal_id
        self.ts = ts
        self.sym = sym
        self.strategy = strategy
        self.worker = worker
        self.venue = venue
        self.side = side
        self.px = px
        self.qty = qty
        self.t_signal_wall = t_signal_wall

    def __repr__(self):
        return (f"Order(id={self.order_id}, sym={self.sym}, venue={self.venue}, "
                f"side={Side(self.side).name}, px={self.px!r}, qty={self.qty!r})")


@cython.freelist(64)
cdef class ExecReport:
    """What a venue said about an order: ack, fill, cancel, reject or expiry."""

    def __init__(self, Order order not None, int64_t ts, int32_t status, double fill_px=0.0,
                 double fill_qty=0.0, double fee=0.0, int64_t trade_id=0):
        if not 0 <= status < N_EXEC_STATUS:
            raise ValueError(f"unknown exec status {status}")
        self.order = order
        self.ts = ts
        self.status = status
        self.fill_px = fill_px
        self.fill_qty = fill_qty
        self.fee = fee
        self.trade_id = trade_id

    def __repr__(self):
        return (f"ExecReport(order={self.order.order_id}, status={ExecStatus(self.status).name}, "
                f"fill_px={self.fill_px!r}, fill_qty={self.fill_qty!r}, fee={self.fee!r})")
