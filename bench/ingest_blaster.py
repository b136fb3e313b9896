"""Sender for bench/bench_ingest.py: a minimal WebSocket server that blasts bookTicker frames.

    python bench/ingest_blaster.py --count N --mode plain|packed|per-message [--cert C --key K]

It listens on 127.0.0.1:0 and prints `port P`. Then, for each connection in turn: TLS
handshake (with --cert/--key), the WebSocket opening handshake answered minimally, and the
whole stream made ready before a byte of it is sent: N unmasked text frames in the Binance
combined-stream form, two symbols alternating, `u` rising. With TLS the stream is encrypted
up front through an `ssl.SSLObject`, so the send is a plain socket copy and the sender never
limits the receiver it is measuring:

    plain        the frames as they are
    packed       64 KiB of frames per SSLObject.write: many frames per (16 KiB) TLS record
    per-message  one SSLObject.write per frame: each message its own TLS record, as
                 exchanges send them

It prints `ready`, waits for a `go` line on stdin, sends, half-closes and waits for the
receiver to close (closing with unread bytes would reset the connection and could destroy
data the receiver has not read yet). It runs until it is terminated.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import socket
import ssl
import sys
from array import array

SYMBOLS = ("BTCUSDT", "ETHUSDT")
MIDS = (91250.0, 3150.0)
PACKED_WRITE = 64 * 1024
# Frames encrypted between two reads of the outgoing BIO in per-message mode.
BIO_DRAIN_EVERY = 4096
TAIL_PERIOD = 4096   # even: each tail keeps its symbol
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def build_stream(count: int) -> tuple[bytes, array]:
    """The N frames back to back, and the offset where each starts (plus the end)."""
    # Prices and sizes repeat with a period; only `u` is formatted per message.
    heads = [f'{{"stream":"{symbol.lower()}@bookTicker","data":{{"u":'.encode() for symbol in SYMBOLS]
    tails = []
    for i in range(TAIL_PERIOD):
        s = i & 1
        tick = 0.01
        bid = MIDS[s] + ((i * 7919) % 201 - 100) * tick
        tails.append(f',"s":"{SYMBOLS[s]}","b":"{bid:.8f}","B":"{((i * 31) % 2000 + 1) / 1000:.8f}",'
                     f'"a":"{bid + tick:.8f}","A":"{((i * 17) % 3000 + 1) / 1000:.8f}"}}}}'.encode())
    parts = []
    offsets = array("q", [0])
    end = 0
    for i in range(count):
        payload = heads[i & 1] + str(78451233019 + i).encode() + tails[i % TAIL_PERIOD]
        n = len(payload)
        # 126 + 16-bit length: a bookTicker is longer than 125 bytes
        frame = (bytes((0x81, n)) if n <= 125 else bytes((0x81, 126)) + n.to_bytes(2, "big")) + payload
        parts.append(frame)
        end += len(frame)
        offsets.append(end)
    return b"".join(parts), offsets


class Plain:
    """The connection's byte channel without TLS."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self) -> bytes:
        return self.sock.recv(65536)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


class TLS:
    """TLS over MemoryBIO on a blocking socket: records are made when we say, sent later."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self._fill()
        self.flush()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("peer closed during the TLS exchange")
        self.incoming.write(data)

    def flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def recv(self) -> bytes:
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                self._fill()

    def send(self, data: bytes) -> None:
        self.obj.write(data)
        self.flush()


def accept_websocket(channel: Plain | TLS) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        data = channel.recv()
        if not data:
            raise ConnectionError("peer closed during the WebSocket handshake")
        request += data
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    channel.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")


def prepare(channel: Plain | TLS, mode: str, stream: bytes, offsets: array) -> list[bytes]:
    """The bytes to put on the wire, in order."""
    if isinstance(channel, Plain):
        return [stream]
    obj, outgoing = channel.obj, channel.outgoing
    view = memoryview(stream)
    chunks = []
    if mode == "packed":
        for start in range(0, len(stream), PACKED_WRITE):
            obj.write(view[start:start + PACKED_WRITE])
            chunks.append(outgoing.read())
    else:
        write = obj.write
        for i in range(len(offsets) - 1):
            write(view[offsets[i]:offsets[i + 1]])
            if i % BIO_DRAIN_EVERY == BIO_DRAIN_EVERY - 1:
                chunks.append(outgoing.read())
        chunks.append(outgoing.read())
    return chunks


def serve(listener: socket.socket, context: ssl.SSLContext | None, mode: str,
          stream: bytes, offsets: array) -> None:
    sock, _ = listener.accept()
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        channel = TLS(sock, context) if context is not None else Plain(sock)
        accept_websocket(channel)
        chunks = prepare(channel, mode, stream, offsets)
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit(0)      # the benchmark went away
        for chunk in chunks:
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--mode", choices=("plain", "packed", "per-message"), required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    if (args.mode == "plain") != (args.cert is None):
        parser.error("--cert and --key go with the TLS modes, packed and per-message")
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    stream, offsets = build_stream(args.count)
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"port {listener.getsockname()[1]}", flush=True)
    while True:
        try:
            serve(listener, context, args.mode, stream, offsets)
        except (ConnectionError, ssl.SSLError) as exc:
            print(f"failed {exc}", flush=True)      # the benchmark waits for `ready` or this


if __name__ == "__main__":
    main()
