"""Recorder: the JSONL audit trail of every event, written whole lines at a time.

The Cython pipeline appends Md/Sig/Ord/Exec lines to a `JsonlBuffer`; this module owns the
file. It flushes on a reactor timer, when the buffer grows past a limit, and at shutdown.
Each flush is `os.write` of whole lines to an O_APPEND descriptor, so a stop by SIGTERM
leaves only whole lines, and a hard kill can at worst cut the last line short.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import ujson

from dmabot.core.jsonl import JsonlBuffer
from dmabot.io.reactor import Reactor, TimerHandle

log = logging.getLogger("dmabot.recorder")

SCHEMA_VERSION = 1
# Flush early when this much is buffered, so memory stays flat at any tick rate.
FLUSH_BYTES = 1 << 20


class Recorder:
    def __init__(self, path: str, buffer: JsonlBuffer, reactor: Reactor, flush_ms: float) -> None:
        self.path = path
        self.buffer = buffer
        self.reactor = reactor
        self.flush_ns = int(flush_ms * 1e6)
        self.bytes_written = 0
        self.write_errors = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._timer: TimerHandle | None = None
        log.info("recorder enabled path=%s", path)

    def write_header(self, started_ns: int, config: dict[str, Any]) -> None:
        """First line of a recording: what a replay needs to rebuild the run."""
        header = {"Header": {"schema": SCHEMA_VERSION, "ts": started_ns, "config": config}}
        self.buffer.append_line(ujson.dumps(header, ensure_ascii=False).encode())

    def start(self) -> None:
        self._timer = self.reactor.call_later(self.flush_ns, self._on_timer)

    def _on_timer(self) -> None:
        self.flush()
        self._timer = self.reactor.call_later(self.flush_ns, self._on_timer)

    def maybe_flush(self) -> None:
        if len(self.buffer) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        data = memoryview(self.buffer.take())
        while data:
            try:
                n = os.write(self._fd, data)
            except InterruptedError:
                continue
            except OSError as exc:
                # keep running: trading must not stop because the disk is full; say it once
                if not self.write_errors:
                    log.error("recorder write failed path=%s error=%s (further failures counted only)",
                              self.path, exc)
                self.write_errors += 1
                return
            self.bytes_written += n
            data = data[n:]

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        try:
            os.fsync(self._fd)
        except OSError:
            pass
        os.close(self._fd)
