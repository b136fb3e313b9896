"""PositionBook: quantity, average cost, realized and unrealized PnL and fees."""
from libc.math cimport fabs
from libc.stdint cimport int32_t
from libc.stdlib cimport calloc, free

from dmabot.core.positions cimport Position

# A position smaller than this fraction of the quantities that closed it is flat: the
# float residue of equal buys and sells, whatever their size.
cdef double FLAT_REL = 1e-12


cdef class PositionBook:

    def __cinit__(self, int32_t n_symbols, int32_t n_venues):
        if n_symbols < 1 or n_venues < 1:
            raise ValueError("need at least one symbol and one venue")
        self.n_symbols = n_symbols
        self.n_venues = n_venues
        self._pos = <Position*>calloc(n_symbols * n_venues, sizeof(Position))
        self._mark = <double*>calloc(n_symbols, sizeof(double))
        if self._pos == NULL or self._mark == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self._pos)
        free(self._mark)

    cdef void fill_c(self, int32_t sym, int32_t venue, int32_t side, double px, double qty,
                     double fee) noexcept nogil:
        cdef Position* p = &self._pos[sym * self.n_venues + venue]
        cdef double signed_qty = side * qty
        cdef double closing
        p.fees += fee
        p.fills += 1
        if side > 0:
            p.bought += qty
        else:
            p.sold += qty
        if p.qty == 0:
            p.avg_px = px
            p.qty = signed_qty
            return
        if (p.qty > 0) == (side > 0):
            # adding: the average cost moves towards the fill price
            p.avg_px = (p.avg_px * fabs(p.qty) + px * qty) / (fabs(p.qty) + qty)
            p.qty += signed_qty
            return
        closing = qty if qty < fabs(p.qty) else fabs(p.qty)
        p.realized += closing * (px - p.avg_px) * (1.0 if p.qty > 0 else -1.0)
        cdef double flat_below = FLAT_REL * (qty if qty > fabs(p.qty) else fabs(p.qty))
        p.qty += signed_qty
        if fabs(p.qty) <= flat_below:
            p.qty = 0.0
            p.avg_px = 0.0
        elif (p.qty > 0) == (side > 0):
            p.avg_px = px        # flipped: what is left was opened at this fill

    cdef double unrealized_c(self, int32_t sym, int32_t venue) noexcept nogil:
        cdef Position* p = &self._pos[sym * self.n_venues + venue]
        if p.qty == 0 or self._mark[sym] == 0:
            return 0.0
        return (self._mark[sym] - p.avg_px) * p.qty

    # -- Python API ----------------------------------------------------------------------
    def fill(self, int32_t sym, int32_t venue, int32_t side, double px, double qty, double fee=0.0):
        self._check(sym, venue)
        if side not in (1, -1) or not qty > 0:
            raise ValueError(f"bad fill: side={side} qty={qty}")
        self.fill_c(sym, venue, side, px, qty, fee)

    def mark(self, int32_t sym, double mid):
        self._check(sym, 0)
        self.mark_c(sym, mid)

    def get(self, int32_t sym, int32_t venue):
        """Dict of qty, avg_px, realized, unrealized, fees, bought, sold, fills, mark."""
        self._check(sym, venue)
        cdef Position* p = &self._pos[sym * self.n_venues + venue]
        return {"qty": p.qty, "avg_px": p.avg_px, "realized": p.realized,
                "unrealized": self.unrealized_c(sym, venue), "fees": p.fees,
                "bought": p.bought, "sold": p.sold, "fills": p.fills, "mark": self._mark[sym]}

    def _check(self, int32_t sym, int32_t venue):
        if not (0 <= sym < self.n_symbols and 0 <= venue < self.n_venues):
            raise IndexError(f"symbol {sym} or venue {venue} out of range")
