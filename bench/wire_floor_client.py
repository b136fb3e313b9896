"""The floor of the wire tick-to-trade benchmark: a client that does nothing but answer.

It connects like the engine (a bookTicker stream and the WebSocket API, TLS, on the simulator in
probe mode) and, whenever the stream socket is readable, reads what is there and writes one
order.place frame that was built before the run. No decoding, strategy, risk, rounding or
signing: what the probe then measures is loopback twice, two process wake-ups, TLS both ways
and the simulator's own parsing, on this machine, now. The engine's distribution is only
meaningful next to this one.

    python bench/wire_floor_client.py PORT CA_FILE API_KEY
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import ssl
import struct
import sys

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request


def open_websocket(port: int, context: ssl.SSLContext, target: str) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = context.wrap_socket(sock, server_hostname="127.0.0.1")
    ws = WSConnection(ConnectionType.CLIENT)
    tls.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target=target)))
    while True:
        ws.receive_data(tls.recv(65536))
        if any(isinstance(e, AcceptConnection) for e in ws.events()):
            return tls


def order_frame(api_key: str, n: int) -> bytes:
    """A masked text frame with an order.place (unsigned: the probe times it before any check)."""
    payload = json.dumps({"id": f"floor-{n}", "method": "order.place", "params": {
        "apiKey": api_key, "newClientOrderId": f"floor-{n}", "price": "91250.01", "quantity": "0.001",
        "recvWindow": 5000, "side": "BUY", "symbol": "BTCUSDT", "timeInForce": "IOC",
        "timestamp": 1795858200000, "type": "LIMIT", "signature": "0" * 64}}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BBH", 0x81, 0x80 | 126, len(payload)) + mask + masked


def main(port: int, ca_file: str, api_key: str) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    stream = open_websocket(port, context, "/ws/btcusdt@bookTicker")
    ws_api = open_websocket(port, context, "/ws-api/v3")
    frames = [order_frame(api_key, n) for n in range(20_000)]
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ, "stream")
    selector.register(ws_api, selectors.EVENT_READ, "ws_api")
    sent = 0
    while True:
        for key, _ in selector.select():
            data = key.fileobj.recv(65536)
            if not data:
                return
            if key.data == "stream" and data[0] & 0x0F == 0x1:   # a text frame: a tick
                ws_api.sendall(frames[sent % len(frames)])
                sent += 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the benchmark's way to end it
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
