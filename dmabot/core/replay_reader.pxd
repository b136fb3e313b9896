from libc.stdint cimport int64_t, uint64_t

from dmabot.core.symbols cimport SymbolTable
from dmabot.core.pipeline cimport Pipeline
from dmabot.core.types cimport BookTicker


cdef class MdLineReader:
    """Runs recorded `Md` lines straight from a byte buffer into a Pipeline.

    Lines of the recorder's own layout are parsed in C; any other line (another event, a
    reordered or malformed Md) is handed back to Python.
    """
    cdef readonly Pipeline pipeline
    cdef readonly SymbolTable symbols
    cdef readonly uint64_t lines          # lines consumed so far, Python-handled ones included
    cdef readonly uint64_t ticks

    cdef bint _parse(self, const char* p, const char* end, BookTicker* t) noexcept
